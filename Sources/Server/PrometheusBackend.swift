import CoreMetrics
import Prometheus

/// swift-metrics' backend for `GET /metrics`: swift-prometheus's `PrometheusMetricsFactory` over a
/// `PrometheusCollectorRegistry`, with each of Batchline's series given its HELP line and the lag
/// histogram its buckets (the plain factory registers every series with no HELP, and the registry
/// refuses two HELP texts for one name). Other series, and every `destroy`, go to the plain factory.
public struct PrometheusBackend: MetricsFactory {
    /// The registry the series live in (what `GET /metrics` renders).
    public let registry: PrometheusCollectorRegistry
    private let plain: PrometheusMetricsFactory

    /// Lag buckets, seconds.
    static let lagBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]

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
        "batchline_events_lost_total": "Event lines of the stream lost to a disk that refused them.",
        "batchline_events_write_failing": "1 while the stream's events file cannot be written (a full disk).",
        "batchline_stream_reconnects_total": "Times the stream's live source came back after dropping.",
        "batchline_stream_up": "1 while the stream runs, 0 otherwise.",
        "batchline_stream_lag_seconds": "Seconds from a frame's decoding to its event.",
        "batchline_batch_size": "The batch size the batcher uses now.",
        "batchline_requests_in_flight": "Inference requests the batcher keeps in flight now.",
        "batchline_batch_decisions_total": "Decisions of the batch size manager.",
        "batchline_model_swaps_total": "Model swaps asked for, by outcome.",
        "batchline_frames_skipped_total":
            "Frames of the stream the detector skipped, answered by its tracker, by reason (interval, motion: a still scene).",
        "batchline_stream_infer_interval": "The detector runs on every N-th frame of the stream (1: every frame).",
        "batchline_line_crossings_total": "Tracks that crossed the stream's line, by direction (in, out).",
        "batchline_zone_occupancy": "Tracks inside the stream's zone now.",
        "batchline_http_connections_closed_total":
            "HTTP connections the server closed: evicted when full, or past a request's head or body deadline.",
    ]

    /// A backend writing into `registry`.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var plain = PrometheusMetricsFactory(registry: registry)
        plain.durationHistogramBuckets = ["batchline_stream_lag_seconds": Self.lagBuckets]
        self.plain = plain
    }

    /// The name and HELP text of `label` when it is one of Batchline's series.
    private func described(_ label: String) -> MetricNameDescriptor? {
        Self.help[label].map { MetricNameDescriptor(metricName: label, unitName: "", helpText: $0) }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let name = described(label) else { return plain.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: name, labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)])
        -> any FloatingPointCounterHandler
    {
        guard let name = described(label) else {
            return plain.makeFloatingPointCounter(label: label, dimensions: dimensions)
        }
        return registry.makeCounter(descriptor: name, labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard !aggregate, let name = described(label) else {
            return plain.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return registry.makeGauge(descriptor: name, labels: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let name = described(label) else { return plain.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: name, labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let name = described(label) else { return plain.makeTimer(label: label, dimensions: dimensions) }
        let buckets = plain.durationHistogramBuckets[label] ?? plain.defaultDurationHistogramBuckets
        return registry.makeDurationHistogram(descriptor: name, labels: dimensions, buckets: buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) { plain.destroyCounter(handler) }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        plain.destroyFloatingPointCounter(handler)
    }

    public func destroyRecorder(_ handler: any RecorderHandler) { plain.destroyRecorder(handler) }

    public func destroyMeter(_ handler: any MeterHandler) { plain.destroyMeter(handler) }

    public func destroyTimer(_ handler: any TimerHandler) { plain.destroyTimer(handler) }
}
