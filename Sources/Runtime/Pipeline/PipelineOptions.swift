import Batching
import Core
import VideoIO

/// How frames move through the stages (the paper's Figure 3).
public enum PipelineMode: String, Sendable, CaseIterable, Codable {
    /// One frame through all stages at a time, on one thread (3a).
    case sequential
    /// Decode, pre-process, inference and post-process each on their own worker, joined by bounded queues (3b).
    case pipelined
    /// As pipelined, and inference takes B frames at once (3c).
    case batched
}

/// What `batchline run` does: which sources, which model, how to batch, what to write.
public struct PipelineOptions: Sendable {
    /// File paths or `http://`, `udp://`, `rtsp://` URLs; their frames share one batcher.
    public var sources: [String]
    /// The first source.
    public var source: String {
        get { sources[0] }
        set { sources[0] = newValue }
    }
    /// How frames move through the stages.
    public var mode: PipelineMode = .batched
    /// With `model` a repository model folder (`REPO/<name>`): serve this version instead of the latest.
    public var modelVersion: Int?
    /// A local socket that takes `activate`, `rollback` and `status` for the model (nil: a path derived
    /// from the repository model folder, when the model is one).
    public var controlPath: String?
    /// Swap to a new version when one appears in the repository (nil: yes under the `latest` policy).
    public var watch: Bool?
    /// A new version runs this many seconds and batches without failure before the old one is freed.
    public var probationSeconds = 1.0
    /// See `probationSeconds`.
    public var probationBatches = 10
    /// Seconds between looks at the repository.
    public var watchInterval = 1.0
    /// A swap that would take memory past this many bytes is refused (nil: the cgroup's limit, if any).
    public var memoryLimit: Int?
    /// Inference requests in flight (nil: what the device suggests; 1 in sequential mode).
    public var requests: Int?
    /// Threads pre-processing frames (order is kept).
    public var preprocessWorkers = 1
    /// How the batch size is chosen: `fixed` keeps `batchSize`; the others let the controller move it.
    public var batchPolicy: BatchPolicy = .fixed
    /// Batch sizes the controller may choose.
    public var batchSizes: [Int] = [1, 2, 4, 8, 16]
    /// p99 latency target in seconds (slo and aimd policies).
    public var latencySLO = 0.5
    /// Seconds between the controller's decisions.
    public var decisionInterval = 0.5
    /// What to shed when nothing keeps up; nil: `backlog` for files run as fast as they go, else `drop-oldest`.
    public var shed: ShedPolicy?
    /// How the sources given at the start are tracked (`run --track`, `--infer-every`); nil: not
    /// tracked. A service's streams say it each (`attach(tracking:)`).
    public var tracking: TrackingSettings?
    /// The score a detection needs to be reported (`run --score-threshold`); nil: the sidecar's.
    public var scoreThreshold: Float?

    /// Per source: seconds after the start at which it joins (starts decoding) and leaves (stops);
    /// a live-load schedule for `--realtime` runs and benchmarks. Missing entries: the whole run.
    public var schedule: [Int: (join: Double, leave: Double?)] = [:]
    /// Where the batch size manager reads how busy the machine's CPU is (0...1; nil: unknown), which
    /// holds intervals from shortening while the cores are the limit. Nil: the run's own resource
    /// monitor. A test on a shared machine passes `{ nil }` so that other work on it (a parallel
    /// test, a build) does not decide its outcome; the gate itself is tested on its own.
    public var cpuBusy: (@Sendable () -> Double?)?

    /// The shedding policy in force.
    public var effectiveShed: ShedPolicy {
        shed ?? (realtime || sources.contains { $0.contains("://") } ? .dropOldest : .backlog)
    }
    /// A model file with its sidecar beside it, a sidecar, or a folder holding one.
    public var model: String
    /// Frames per inference call.
    public var batchSize: Int = 1
    /// Seconds a partly filled batch waits for more frames before it runs anyway.
    public var batchTimeout: Double = 0.1
    /// Stop after this many frames.
    public var maxFrames: Int?
    /// Replays the files given at the start from their beginning when they end (a run then ends
    /// at `stop`, or with `maxFrames`).
    public var loop = false
    /// Pace a file at its native frame rate, as a camera would deliver it.
    public var realtime = false
    /// JSON lines, one per frame.
    public var eventsPath: String?
    /// The run summary as JSON.
    public var statsPath: String?
    /// A video with the detections drawn.
    public var annotatePath: String?
    /// Show a progress line on standard error.
    public var progress = false
    /// The OpenVINO device.
    public var device = "CPU"
    /// Seconds a source may stay silent (on open and between reads) before the run gives up.
    public var sourceTimeout: Double = 10
    /// Decoded frames that may wait for processing; the decoder blocks when it is full.
    public var queueCapacity = 16
    /// Serve until stopped, with streams attached while running (`batchline serve`), rather than
    /// end with the sources; `sources` may then be empty.
    public var keepOpen = false
    /// Seconds between flushes of the events files (what a SIGKILL can take; 0: after every batch).
    public var eventsFlushInterval = 1.0
    /// With `keepOpen`: how many streams are expected, to size the shared queue.
    public var expectedStreams = 0

    /// The largest batch accepted: beyond it the input tensor alone passes 100 MB for a 300x300 model
    /// and latency runs to seconds at camera rates.
    public static let maxBatchSize = 256

    /// Creates options for `source` and `model`; the rest keep their defaults.
    public init(source: String, model: String) {
        self.sources = [source]
        self.model = model
    }

    /// Creates options for several `sources` sharing one batcher.
    public init(sources: [String], model: String) {
        self.sources = sources
        self.model = model
    }

    /// Checks values that need no file access.
    public func validate() throws(PipelineError) {
        guard (1...Self.maxBatchSize).contains(batchSize) else {
            throw PipelineError("batch size \(batchSize) is out of range: use 1...\(Self.maxBatchSize)")
        }
        if let maxFrames, maxFrames < 1 { throw PipelineError("max frames must be at least 1, not \(maxFrames)") }
        guard batchTimeout > 0, batchTimeout <= 60 else {
            throw PipelineError("batch timeout must be within (0, 60] seconds")
        }
        guard sourceTimeout > 0 else { throw PipelineError("source timeout must be positive") }
        guard queueCapacity > 0 else { throw PipelineError("queue capacity must be positive") }
        for (stream, window) in schedule {
            guard sources.indices.contains(stream) else {
                throw PipelineError("schedule names stream \(stream), but there are \(sources.count) sources")
            }
            guard window.join >= 0, (window.leave ?? .infinity) > window.join else {
                throw PipelineError("stream \(stream) must join at 0 s or later and leave after it joins")
            }
        }
        guard !sources.isEmpty || keepOpen, sources.count <= 64 else { throw PipelineError("give 1...64 sources") }
        if keepOpen && mode == .sequential { throw PipelineError("a service needs --mode pipelined or batched") }
        if let requests, !(1...16).contains(requests) {
            throw PipelineError("requests in flight \(requests) is out of range: use 1...16")
        }
        guard (1...16).contains(preprocessWorkers) else {
            throw PipelineError("pre-processing workers \(preprocessWorkers) is out of range: use 1...16")
        }
        if batchPolicy != .fixed {
            guard mode == .batched else { throw PipelineError("--batch auto needs --mode batched") }
            guard !batchSizes.isEmpty, batchSizes.allSatisfy({ (1...Self.maxBatchSize).contains($0) }) else {
                throw PipelineError("batch sizes must be within 1...\(Self.maxBatchSize)")
            }
            guard latencySLO > 0 else { throw PipelineError("the latency SLO must be positive") }
        }
        if mode != .batched && batchSize != 1 {
            throw PipelineError(
                "batch size \(batchSize) needs --mode batched (\(mode.rawValue) runs one frame at a time)")
        }
    }
}

/// A pipeline that cannot start or went wrong.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure, for callers (the HTTP server) that map it without reading the message.
    public enum Code: String, Sendable {
        /// Options that cannot work together, or out of range.
        case invalidOptions
        /// The pipeline is not running (yet, or any more).
        case notReady
        /// A stage failed at run time.
        case failed
        /// Too much is waiting already: try again later.
        case busy
    }

    /// The kind.
    public let code: Code
    /// What went wrong, on one line.
    public let message: String
    /// Creates an error of `code`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    /// Creates an `invalidOptions` error.
    public init(_ message: String) { self.init(.invalidOptions, message) }
    /// The message.
    public var description: String { message }
}

/// Sets how much the native libraries print on their own: nothing by default (their errors reach
/// users as typed errors with the libraries' messages), warnings with `verbose`.
public func configureNativeLogging(verbose: Bool) {
    setFFmpegLogging(verbose: verbose)
}

extension PipelineError: CodedError {
    /// The code in the shared vocabulary: bad options are the caller's, a busy or stopped pipeline
    /// is "not now".
    public var errorCode: ErrorCode {
        switch code {
        case .invalidOptions: .invalid
        case .notReady, .busy: .unavailable
        case .failed: .failed
        }
    }
}
