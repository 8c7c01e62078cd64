import Batching
import Foundation
import Monitoring
import Runtime

/// What `batchline profile` measures.
public struct ProfileOptions: Sendable {
    /// The model (as for `run`).
    public var model: String
    /// The video.
    public var source: String
    /// Batch sizes to measure.
    public var batches: [Int] = [1, 2, 4, 8, 16]
    /// The camera rate the real-time condition assumes: B frames must finish within B / fps seconds.
    public var fps: Double = 30
    /// Frames run at each batch size.
    public var frames = 320
    /// Inference requests in flight (1 measures each batch alone, as the paper's tables do).
    public var requests = 1
    /// Pre-processing threads.
    public var preprocessWorkers = 1
    /// Show a progress bar on standard error.
    public var progress = false

    /// Creates options; the rest keep their defaults.
    public init(model: String, source: String) {
        self.model = model
        self.source = source
    }
}

/// One batch size's measurements: the paper's Tables 1-2 and Figures 7-8 for this machine.
public struct ProfileRow: Codable, Sendable {
    /// Batch size.
    public var batch: Int
    /// Seconds per batch decoding (not in the paper's tables; here the source is a compressed video).
    public var decodeSeconds: Double
    /// Seconds per batch pre-processing (median).
    public var preprocessSeconds: Double
    /// Seconds per batch of inference (median).
    public var inferenceSeconds: Double
    /// Seconds per batch post-processing (median).
    public var postprocessSeconds: Double
    /// B / fps: the time in which a camera delivers the batch.
    public var realtimeSeconds: Double
    /// The slowest stage's seconds per batch, with stages overlapped (pipelined).
    public var bottleneckSeconds: Double
    /// Which stage that is.
    public var bottleneck: String
    /// Whether the bottleneck keeps up with the camera (`bottleneckSeconds <= realtimeSeconds`).
    public var meetsRealtime: Bool
    /// Frames per second over the whole run.
    public var throughput: Double
    /// Process CPU, percent of one core, mean over the run.
    public var cpuPercent: Double
    /// Peak resident memory during the run, bytes.
    public var peakRSSBytes: Int
    /// Peak GPU memory during the run, where a GPU is monitored.
    public var deviceMemoryBytes: Int?
    /// Frames run.
    public var frames: Int

    enum CodingKeys: String, CodingKey {
        case batch, bottleneck, throughput, frames
        case decodeSeconds = "decode_s"
        case preprocessSeconds = "preprocess_s"
        case inferenceSeconds = "inference_s"
        case postprocessSeconds = "postprocess_s"
        case realtimeSeconds = "realtime_condition_s"
        case bottleneckSeconds = "bottleneck_s"
        case meetsRealtime = "meets_realtime"
        case cpuPercent = "cpu_pct"
        case peakRSSBytes = "peak_rss_bytes"
        case deviceMemoryBytes = "device_memory_bytes"
    }
}

/// The whole profile.
public struct ProfileReport: Codable, Sendable {
    /// `name@version`.
    public var model: String
    /// The video.
    public var source: String
    /// Camera rate assumed.
    public var fps: Double
    /// Requests in flight.
    public var requests: Int
    /// Pre-processing threads.
    public var preprocessWorkers: Int
    /// The machine.
    public var machine: MachineInfo
    /// The inference device.
    public var deviceInfo: [String: String]
    /// One row per batch size.
    public var rows: [ProfileRow]

    enum CodingKeys: String, CodingKey {
        case model, source, fps, requests, machine, rows
        case preprocessWorkers = "preprocess_workers"
        case deviceInfo = "device_info"
    }
}

/// Runs the batched pipeline at each batch size and measures every stage, as the paper does.
public struct Profiler: Sendable {
    /// What to measure.
    public let options: ProfileOptions

    /// Creates a profiler.
    public init(options: ProfileOptions) { self.options = options }

    /// Measures every batch size in turn (blocking; call from a dedicated thread or `measure()`).
    public func measureBlocking() throws -> ProfileReport {
        guard !options.batches.isEmpty else { throw PipelineError("give at least one batch size") }
        guard options.fps > 0 else { throw PipelineError("fps must be positive") }
        let bar = ProgressBar(enabled: options.progress, total: options.batches.count)
        var rows: [ProfileRow] = []
        var last: RunStats?
        for (i, batch) in options.batches.enumerated() {
            bar.show(done: i, label: "batch \(batch)")
            var run = PipelineOptions(source: options.source, model: options.model)
            run.mode = .batched
            run.batchSize = batch
            run.requests = options.requests
            run.preprocessWorkers = options.preprocessWorkers
            run.maxFrames = options.frames
            let stats = try DetectionPipeline(options: run).runBlocking().stats
            rows.append(Self.row(batch: batch, stats: stats, fps: options.fps, options: options))
            last = stats
        }
        bar.show(done: options.batches.count, label: "done")
        bar.finish()
        return ProfileReport(
            model: last?.model ?? "", source: options.source, fps: options.fps, requests: options.requests,
            preprocessWorkers: options.preprocessWorkers, machine: last?.machine ?? ResourceMonitor().machine,
            deviceInfo: last?.deviceInfo ?? [:], rows: rows)
    }

    /// Measures on a dedicated thread.
    public func measure() async throws -> ProfileReport {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do { continuation.resume(returning: try measureBlocking()) } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "batchline-profile"
            thread.start()
        }
    }

    static func row(batch: Int, stats: RunStats, fps: Double, options: ProfileOptions) -> ProfileRow {
        func perBatch(_ stage: Stage) -> Double { (stats.perBatch[stage.rawValue]?.p50Ms ?? 0) / 1000 }
        let decode = (stats.stages[Stage.decode.rawValue]?.p50Ms ?? 0) / 1000 * Double(batch)
        let pre = perBatch(.preprocess)
        let infer = perBatch(.infer)
        let post = perBatch(.postprocess)
        // Overlapped stages: each runs on its own worker(s); inference has `requests` in flight.
        let effective: [(String, Double)] = [
            ("decode", decode), ("preprocess", pre / Double(options.preprocessWorkers)),
            ("inference", infer / Double(options.requests)), ("postprocess", post),
        ]
        let slowest = effective.max { $0.1 < $1.1 }!
        let realtime = Double(batch) / fps
        return ProfileRow(
            batch: batch, decodeSeconds: decode, preprocessSeconds: pre, inferenceSeconds: infer,
            postprocessSeconds: post, realtimeSeconds: realtime, bottleneckSeconds: slowest.1,
            bottleneck: slowest.0, meetsRealtime: slowest.1 <= realtime, throughput: stats.fps,
            cpuPercent: stats.resources.processCPUMean, peakRSSBytes: stats.resources.rssPeakBytes,
            deviceMemoryBytes: stats.resources.gpus.map(\.memoryUsedBytes).max(), frames: stats.frames)
    }
}

/// `[=====     ] 2/5 batch 4` on standard error, redrawn; silent when not a terminal.
struct ProgressBar {
    let enabled: Bool
    let total: Int

    init(enabled: Bool, total: Int) {
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
        self.total = total
    }

    func show(done: Int, label: String) {
        guard enabled else { return }
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\u{1B}[Kprofile [\(bar)] \(done)/\(total) \(label)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
