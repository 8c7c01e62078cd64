import Batching
import ModelServing
import Monitoring

/// Durations of one stage, summarised as users read them.
///
/// Bounded however long the run: count, total and largest are exact; the median and p99 come from
/// the samples kept, every one up to `keep`, beyond that a uniform sample of `keep` of them
/// (reservoir sampling with a fixed seed, so runs summarise alike).
public struct StageStats: Sendable {
    /// Samples kept for the percentiles.
    static let keep = 65_536
    private(set) var samples: [Double] = []
    private(set) var count = 0
    /// Sum of every sample, seconds.
    private(set) var total = 0.0
    private var largest = 0.0
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// Creates an empty record.
    public init() {}

    /// Records one duration in seconds.
    public mutating func add(_ seconds: Double) {
        count += 1
        total += seconds
        largest = count == 1 ? seconds : max(largest, seconds)
        if samples.count < Self.keep {
            samples.append(seconds)
            return
        }
        // Keep it with probability keep / count, in place of a kept one chosen at random.
        random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let slot = Int((random >> 33) % UInt64(count))
        if slot < Self.keep { samples[slot] = seconds }
    }

    /// Records every sample of `other` (another thread's record of the same stage).
    mutating func add(_ other: StageStats) {
        for sample in other.samples { add(sample) }
        guard other.count > other.samples.count else { return }
        // What `other` counted but did not keep.
        count += other.count - other.samples.count
        total += other.total - other.samples.reduce(0, +)
        largest = max(largest, other.largest)
    }

    /// Mean, median and 99th percentile in milliseconds, and the count.
    public var summary: Summary {
        guard count > 0 else { return Summary(count: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0) }
        let sorted = samples.sorted()
        func pct(_ p: Double) -> Double {
            sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))] * 1000
        }
        return Summary(
            count: count, meanMs: total / Double(count) * 1000, p50Ms: pct(0.5), p99Ms: pct(0.99),
            maxMs: largest * 1000)
    }

    /// A stage's figures in `--stats`.
    public struct Summary: Codable, Sendable, Equatable {
        /// Samples (frames, or batches for inference).
        public var count: Int
        /// Mean milliseconds.
        public var meanMs: Double
        /// Median milliseconds.
        public var p50Ms: Double
        /// 99th percentile milliseconds.
        public var p99Ms: Double
        /// Largest, milliseconds.
        public var maxMs: Double

        enum CodingKeys: String, CodingKey {
            case count
            case meanMs = "mean_ms"
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
            case maxMs = "max_ms"
        }
    }
}

/// The summary `--stats` writes and `batchline run` prints.
public struct RunStats: Codable, Sendable {
    /// The source.
    public var source: String
    /// `name@version` of the model.
    public var model: String
    /// The device inference ran on.
    public var device: String
    /// Frames processed and written.
    public var frames: Int
    /// Frames decoded but not processed (shed under overload).
    public var dropped: Int
    /// Frames the container announced, where it says.
    public var expectedFrames: Int?
    /// Wall-clock seconds from the first frame decoded to the last written.
    public var seconds: Double
    /// Frames per second over `seconds`.
    public var fps: Double
    /// Per stage: decode, preprocess and postprocess per frame; infer per batch.
    public var stages: [String: StageStats.Summary]
    /// Inference milliseconds per frame (infer per batch divided by its size), mean.
    public var inferPerFrameMs: Double
    /// How many batches of each size ran.
    public var batchSizes: [String: Int]
    /// Queue capacity and the most frames that waited in it, per queue.
    public var queues: [String: QueueStats]
    /// The input video.
    public var video: VideoSummary
    /// Why a source ended early (truncated, timed out), when one did.
    public var error: String?
    /// How frames moved: sequential, pipelined or batched.
    public var mode: String
    /// Inference requests kept in flight at once.
    public var requestsInFlight: Int
    /// Threads pre-processing frames.
    public var preprocessWorkers: Int
    /// Per stage, the seconds each batch cost it (pre- and post-processing summed over the batch's frames).
    public var perBatch: [String: StageStats.Summary]
    /// Per source: frames, frame rate out, and lag (decode to event written).
    public var streams: [StreamStats]

    /// CPU and memory over the run.
    public var resources: ResourceSummary
    /// The machine.
    public var machine: MachineInfo
    /// The inference device's name and properties, as OpenVINO reports them.
    public var deviceInfo: [String: String]
    /// How the batch size was chosen.
    public var batchPolicy: String
    /// What was shed under overload.
    public var shedPolicy: String
    /// Every batch size change, with its reason and the measurements behind it (a time series).
    public var batchDecisions: [BatchDecision]
    /// Every model swap asked for, with its outcome and timings.
    public var modelSwaps: [SwapRecord] = []
    /// How many batch size decisions there were in all (`batchDecisions` keeps the most recent 2,000).
    public var batchDecisionCount: Int?
    /// Frames out per second, their lag and frames shed, over the run.
    public var timeline: [TimelinePoint] = []

    /// One bucket of the timeline.
    public struct TimelinePoint: Codable, Sendable, Equatable {
        /// Start of the bucket, seconds into the run.
        public var time: Double
        /// Its width, seconds.
        public var width: Double
        /// Frames written per second.
        public var fps: Double
        /// Mean lag (arrival to result) of those frames, ms.
        public var lagMeanMs: Double
        /// Largest lag, ms.
        public var lagMaxMs: Double
        /// Frames shed.
        public var dropped: Int

        enum CodingKeys: String, CodingKey {
            case time = "t"
            case width, fps, dropped
            case lagMeanMs = "lag_mean_ms"
            case lagMaxMs = "lag_max_ms"
        }
    }

    /// One source's figures.
    public struct StreamStats: Codable, Sendable {
        /// The source.
        public var source: String
        /// Frames written.
        public var frames: Int
        /// Frames per second written, first to last.
        public var fps: Double
        /// Seconds from a frame being decoded to its event being written.
        public var lag: StageStats.Summary
        /// Why this source ended early, if it did.
        public var error: String?
        /// Frames shed.
        public var dropped: Int
        /// Of the frames written, those its tracker answered without the detector (a tracked
        /// stream's interval); nil for a stream not tracked.
        public var tracked: Int? = nil
        /// Those frames by why the detector skipped them (`interval`, `motion`); nil when not tracked.
        public var skipped: [String: Int]? = nil
        /// The interval the detector ran at when the stream ended (with `--infer-every auto`, the
        /// manager's last choice); nil when not tracked.
        public var interval: Int? = nil
    }

    /// A queue's bound and high-water mark.
    public struct QueueStats: Codable, Sendable {
        /// The bound.
        public var capacity: Int
        /// The most elements that waited at once.
        public var highWater: Int

        enum CodingKeys: String, CodingKey {
            case capacity
            case highWater = "high_water"
        }
    }

    /// The input video as the container describes it.
    public struct VideoSummary: Codable, Sendable {
        /// Width in pixels.
        public var width: Int
        /// Height in pixels.
        public var height: Int
        /// Native frame rate.
        public var fps: Double
        /// Codec name.
        public var codec: String
    }

    enum CodingKeys: String, CodingKey {
        case source, model, device, frames, dropped, seconds, fps, stages, queues, video, error, mode, streams
        case requestsInFlight = "requests_in_flight"
        case preprocessWorkers = "preprocess_workers"
        case perBatch = "per_batch"
        case resources, machine
        case deviceInfo = "device_info"
        case batchPolicy = "batch_policy"
        case shedPolicy = "shed_policy"
        case batchDecisions = "batch_decisions"
        case modelSwaps = "model_swaps"
        case batchDecisionCount = "batch_decision_count"
        case timeline
        case expectedFrames = "expected_frames"
        case inferPerFrameMs = "infer_per_frame_ms"
        case batchSizes = "batch_sizes"
    }
}
