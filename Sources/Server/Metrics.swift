import EdgeNode
import Foundation
import ModelServing
import Monitoring
import Prometheus
import Runtime
import Synchronization

/// `GET /metrics`: the node in Prometheus's text format, through swift-prometheus's registry.
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
/// Counters follow the service's own counts (each scrape adds what changed since the last);
/// a stream's series go when the stream does (bounded however many come and go).
public final class MetricsExporter: Sendable {
    /// The registry the series live in.
    public let registry: PrometheusCollectorRegistry
    /// Lag buckets, seconds.
    static let lagBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]
    private struct State {
        /// The last value each counter was brought to, by its series.
        var last: [String: Double] = [:]
        /// Streams whose series exist, with their lag histograms.
        var streams: [String: DurationHistogram] = [:]
    }

    private let state = Mutex(State())
    private let sampler: ResourceMonitor?

    /// What each series means (its HELP line).
    static let help: [String: String] = [
        "nv_inference_request_success": "Inference requests answered (Triton's name).",
        "nv_inference_request_failure": "Inference requests refused or failed (Triton's name).",
        "nv_inference_count": "Inputs inferred, stream frames and requests (Triton's name).",
        "nv_inference_exec_count":
            "Batches run; inference_count / exec_count is the average batch size (Triton's name).",
        "nv_inference_queue_duration_us":
            "Microseconds inputs waited from arrival to their batch's start, cumulative (Triton's name).",
        "nv_inference_compute_infer_duration_us": "Microseconds of inference per input, cumulative (Triton's name).",
        "nv_cpu_utilization": "Machine CPU use, 0 to 1 (Triton's name).",
        "nv_cpu_memory_used_bytes": "Resident memory of the service, bytes (Triton's name).",
        "nv_gpu_utilization": "GPU use, 0 to 1, from NVML (Triton's name).",
        "nv_gpu_memory_used_bytes": "GPU memory used, bytes, from NVML (Triton's name).",
        "batchline_frames_total": "Frames of the stream written.",
        "batchline_frames_dropped_total": "Frames of the stream shed.",
        "batchline_stream_reconnects_total": "Times the stream's live source came back after dropping.",
        "batchline_stream_up": "1 while the stream runs, 0 otherwise.",
        "batchline_stream_lag_seconds": "Seconds from a frame's decoding to its event.",
        "batchline_batch_size": "The batch size the batcher uses now.",
        "batchline_requests_in_flight": "Inference requests the batcher keeps in flight now.",
        "batchline_batch_decisions_total": "Decisions of the batch size manager.",
        "batchline_model_swaps_total": "Model swaps asked for, by outcome.",
    ]

    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(name: name, labels: labels, help: Self.help[name] ?? name)
    }

    /// An exporter with its own registry; `sampler` gives CPU and memory.
    public init(sampler: ResourceMonitor? = nil) {
        registry = PrometheusCollectorRegistry()
        self.sampler = sampler
    }

    /// The text a scrape gets.
    public func render(_ service: EdgeService) -> String {
        update(service)
        return registry.emitToString()
    }

    private func update(_ service: EdgeService) {
        for pipeline in service.servedModels {
            guard let d = pipeline.modelDescription else { continue }
            let version = String(pipeline.models?.status.version ?? d.version)
            let labels = [("model", d.name), ("version", version)]
            let c = pipeline.counters.value
            counter("nv_inference_request_success", labels, Double(c.requestSuccess))
            counter("nv_inference_request_failure", labels, Double(c.requestFailure))
            counter("nv_inference_count", labels, Double(c.inferenceCount))
            counter("nv_inference_exec_count", labels, Double(c.executionCount))
            counter("nv_inference_queue_duration_us", labels, c.queueMicros)
            counter("nv_inference_compute_infer_duration_us", labels, c.computeMicros)
            let b = pipeline.batching(keep: 0)
            let model = [("model", d.name)]
            gauge("batchline_batch_size", model).set(Double(b.batchSize))
            gauge("batchline_requests_in_flight", model).set(Double(b.requestsInFlight))
            counter("batchline_batch_decisions_total", model, Double(b.decisionCount))
            var swaps: [String: Int] = [:]
            for r in pipeline.models?.records ?? [] { swaps[r.outcome.rawValue, default: 0] += 1 }
            for (outcome, n) in swaps {
                counter("batchline_model_swaps_total", [("model", d.name), ("outcome", outcome)], Double(n))
            }
        }
        let streams = service.streams
        let ids = Set(streams.map(\.id))
        for s in streams {
            let labels = [("stream", s.id)]
            counter("batchline_frames_total", labels, Double(s.frames))
            counter("batchline_frames_dropped_total", labels, Double(s.dropped))
            counter("batchline_stream_reconnects_total", labels, Double(s.reconnects))
            gauge("batchline_stream_up", labels).set(s.state == .running ? 1.0 : 0.0)
            let fresh: DurationHistogram? = state.withLock { st in
                guard st.streams[s.id] == nil else { return nil }
                let histogram = registry.makeDurationHistogram(
                    name: "batchline_stream_lag_seconds", labels: labels, buckets: Self.lagBuckets,
                    help: Self.help["batchline_stream_lag_seconds"]!)
                st.streams[s.id] = histogram
                return histogram
            }
            if let fresh, let handle = service.handle(s.id) {
                handle.observeLag { lag in fresh.record(.nanoseconds(Int64(lag * 1e9))) }
            }
        }
        // Streams that went: their series go too.
        let gone: [(String, DurationHistogram)] = state.withLock { st in
            let gone = st.streams.filter { !ids.contains($0.key) }
            for (id, _) in gone {
                st.streams[id] = nil
                st.last = st.last.filter { !$0.key.contains("stream=\(id);") }
            }
            return gone.map { ($0.key, $0.value) }
        }
        for (id, histogram) in gone {
            let labels = [("stream", id)]
            for name in [
                "batchline_frames_total", "batchline_frames_dropped_total", "batchline_stream_reconnects_total",
            ] {
                registry.unregisterCounter(
                    registry.makeCounter(name: name, labels: labels, help: Self.help[name] ?? name))
            }
            registry.unregisterGauge(gauge("batchline_stream_up", labels))
            registry.unregisterDurationHistogram(histogram)
        }
        if let sample = sampler?.recent.last {
            gauge("nv_cpu_utilization").set(sample.systemCPU / 100)
            gauge("nv_cpu_memory_used_bytes").set(Double(sample.rssBytes))
            for gpu in sample.gpus {
                let labels = [("gpu_uuid", "\(gpu.index)")]
                gauge("nv_gpu_utilization", labels).set(Double(gpu.utilization) / 100)
                gauge("nv_gpu_memory_used_bytes", labels).set(Double(gpu.memoryUsedBytes))
            }
        }
    }

    /// Brings the counter `name{labels}` up to `value` (counts only grow; a reset starts it over).
    private func counter(_ name: String, _ labels: [(String, String)], _ value: Double) {
        let key = name + "{" + labels.map { "\($0.0)=\($0.1);" }.joined() + "}"
        let delta: Double = state.withLock { st in
            let before = st.last[key] ?? 0
            st.last[key] = value
            return value >= before ? value - before : value
        }
        // Made (so that the series exists) even at 0.
        let counter = registry.makeCounter(name: name, labels: labels, help: Self.help[name] ?? name)
        if delta > 0 { counter.increment(by: delta) }
    }
}
