import CoreMetrics
import Monitoring
import Prometheus
import Synchronization

/// `GET /metrics`: the node in Prometheus's text format, rendered from swift-prometheus's registry.
///
/// Triton's names where they mean the same thing (so that existing Grafana boards work):
/// `nv_inference_request_success`, `nv_inference_request_failure`, `nv_inference_count`,
/// `nv_inference_exec_count` (their ratio is the average batch size), `nv_inference_queue_duration_us`,
/// `nv_inference_compute_infer_duration_us` (labels `model`, `version`), `nv_cpu_utilization`,
/// `nv_cpu_memory_used_bytes`, and `nv_gpu_utilization`, `nv_gpu_memory_used_bytes` where NVML is.
/// Batchline's own, by `stream`: `batchline_frames_total`, `batchline_frames_dropped_total`,
/// `batchline_stream_lag_seconds` (a histogram), `batchline_stream_reconnects_total`,
/// `batchline_stream_up`; by `model`: `batchline_batch_size`, `batchline_requests_in_flight`,
/// `batchline_batch_decisions_total`, `batchline_model_swaps_total{outcome}`.
///
/// The libraries are told, not polled: they hold swift-metrics objects, made through `factory` (the
/// `EdgeService`'s) once per series, and count where things happen (frames written and shed,
/// reconnects, batches, swaps, decisions); a removed stream's series are destroyed with it. A scrape
/// only sets the machine's gauges (CPU, memory, GPUs) from the sampler's last look, then renders.
public final class MetricsExporter: Sendable {
    /// The registry the series live in.
    public let registry: PrometheusCollectorRegistry
    /// swift-metrics' backend writing into `registry`: what the service's series are made through
    /// (and what `batchline serve` bootstraps `MetricsSystem` with).
    public let factory: PrometheusBackend

    /// The machine's gauges: CPU and memory, and each GPU's by its index (made as each is first seen).
    private struct Machine: Sendable {
        var cpu: CoreMetrics.Gauge
        var memory: CoreMetrics.Gauge
        var gpus: [Int: (utilization: CoreMetrics.Gauge, memory: CoreMetrics.Gauge)] = [:]
    }

    private let machine: Mutex<Machine>

    /// An exporter with its own registry (or `registry`).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let factory = PrometheusBackend(registry: registry)
        self.factory = factory
        machine = Mutex(
            Machine(
                cpu: CoreMetrics.Gauge(label: "nv_cpu_utilization", factory: factory),
                memory: CoreMetrics.Gauge(label: "nv_cpu_memory_used_bytes", factory: factory)))
    }

    /// The text a scrape gets; `sampler` gives CPU, memory and GPUs.
    public func render(sampler: ResourceMonitor? = nil) -> String {
        if let sample = sampler?.recent.last { record(sample) }
        return registry.emitToString()
    }

    /// The machine's gauges, from the sampler's last look.
    private func record(_ sample: ResourceSample) {
        let factory = factory
        machine.withLock { m in
            m.cpu.record(sample.systemCPU / 100)
            m.memory.record(sample.rssBytes)
            for gpu in sample.gpus {
                if m.gpus[gpu.index] == nil {
                    let labels = [("gpu_uuid", "\(gpu.index)")]
                    m.gpus[gpu.index] = (
                        CoreMetrics.Gauge(label: "nv_gpu_utilization", dimensions: labels, factory: factory),
                        CoreMetrics.Gauge(label: "nv_gpu_memory_used_bytes", dimensions: labels, factory: factory)
                    )
                }
                m.gpus[gpu.index]!.utilization.record(Double(gpu.utilization) / 100)
                m.gpus[gpu.index]!.memory.record(gpu.memoryUsedBytes)
            }
        }
    }
}
