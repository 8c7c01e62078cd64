import Batching
import Foundation
import Monitoring
import VideoIO
import Vision

/// A decoded frame on its way through the stages.
struct SourceFrame: Sendable {
    var stream: Int
    var frame: VideoFrame
    var decodeSeconds: Double
    /// When decoding finished (`Clock.now`): the start of the frame's lag.
    var arrival: Double
}

/// A frame pre-processed into the model's input layout.
struct ReadyFrame: Sendable {
    var source: SourceFrame
    var input: [UInt8]
    var preprocessSeconds: Double
}

/// A batch back from inference, with the outputs the decoder needs.
struct InferredBatch: Sendable {
    var frames: [ReadyFrame]
    var outputs: [String: FloatTensor]
    var inferSeconds: Double
    /// The size the request ran at (partial batches run padded).
    var slotBatch: Int
    /// `name@version` of the model version that ran it.
    var model: String
    /// That version's output decoder.
    var decoder: any OutputDecoder
}

/// The last stage, on one thread: decodes outputs into detections, writes events and annotated
/// video, and keeps every figure of the run. Checks that each stream's frames leave in order.
struct OutputStage {
    /// The version that produced the last batch (gap events name it).
    private(set) var tag: String
    let sources: [String]
    let events: EventWriter?
    let encoders: [Int: EncoderWorker]
    let annotator = Annotator()
    var progress: ProgressLine
    private var decode = StageStats()
    private var preprocess = StageStats()
    private var infer = StageStats()
    private var postprocess = StageStats()
    private var encode = StageStats()
    private var batchPre = StageStats()
    private var batchPost = StageStats()
    private var batches: [Int: Int] = [:]
    private(set) var frames = 0
    private var nextIndex: [Int]
    private var lag: [StageStats]
    private var firstOut: [Double?]
    private var lastOut: [Double]
    private var dropped: [Int]
    private var timeline = Timeline()
    /// The run's start, for the timeline.
    private let origin = Clock.now
    /// Sheds and gaps; the controller, when the batch size is managed.
    let drops: DropLog
    let manager: BatchManager?

    init(
        tag: String, sources: [String], events: EventWriter?,
        encoders: [Int: EncoderWorker], progress: ProgressLine, drops: DropLog = DropLog(),
        manager: BatchManager? = nil
    ) {
        self.drops = drops
        self.manager = manager
        dropped = Array(repeating: 0, count: sources.count)
        self.tag = tag
        self.sources = sources
        self.events = events
        self.encoders = encoders
        self.progress = progress
        nextIndex = Array(repeating: 0, count: sources.count)
        lag = Array(repeating: StageStats(), count: sources.count)
        firstOut = Array(repeating: nil, count: sources.count)
        lastOut = Array(repeating: 0, count: sources.count)
    }

    /// Post-processes and writes every frame of `batch`, in order; `queueDepth` (frames waiting in the
    /// queues now) goes to the batch size manager.
    mutating func emit(_ batch: InferredBatch, queueDepth: Int = 0) throws {
        infer.add(batch.inferSeconds)
        tag = batch.model
        batches[batch.frames.count, default: 0] += 1
        var preSum = 0.0
        var postSum = 0.0
        var decodeSum = 0.0
        var lags: [Double] = []
        for (i, item) in batch.frames.enumerated() {
            let s = item.source
            if s.frame.index > nextIndex[s.stream] { try writeGap(stream: s.stream, below: s.frame.index) }
            // Each stream's frames leave in the order they were decoded; anything else is a bug worth stopping for.
            precondition(s.frame.index == nextIndex[s.stream], "stream \(s.stream) frame \(s.frame.index) out of order")
            nextIndex[s.stream] += 1
            decodeSum += s.decodeSeconds
            decode.add(s.decodeSeconds)
            preprocess.add(item.preprocessSeconds)
            preSum += item.preprocessSeconds
            let t0 = Clock.now
            let found = try batch.decoder.decode(batch.outputs, index: i, width: s.frame.width, height: s.frame.height)
            var post = Clock.now - t0
            let result = FrameResult(
                stream: s.stream, frame: s.frame.index, pts: s.frame.pts, model: batch.model, batch: batch.frames.count,
                detections: found)
            try events?.write(result)
            if let encoder = encoders[s.stream] {
                let t1 = Clock.now
                var pixels = s.frame.pixels
                annotator.draw(found, on: &pixels, width: s.frame.width, height: s.frame.height)
                post += Clock.now - t1
                try encoder.write(pixels)
            }
            postprocess.add(post)
            postSum += post
            let now = Clock.now
            lag[s.stream].add(now - s.arrival)
            lags.append(now - s.arrival)
            timeline.frame(at: now - origin, lag: now - s.arrival)
            if firstOut[s.stream] == nil { firstOut[s.stream] = now }
            lastOut[s.stream] = now
            frames += 1
        }
        batchPre.add(preSum)
        batchPost.add(postSum)
        progress.update(frames: frames)
        if let manager {
            // Only full batches teach the cost model: a padded partial batch says little about its size.
            let full = batch.frames.count == batch.slotBatch
            manager.observe(
                batch: batch.slotBatch, model: batch.model,
                stageSeconds: full
                    ? [
                        "decode": decodeSum, "preprocess": preSum, "infer": batch.inferSeconds, "postprocess": postSum,
                    ] : [:], lags: lags, queueDepth: queueDepth)
        }
    }

    /// Writes the frames of `stream` shed before `limit` (all that are left for nil) as gap events.
    mutating func writeGap(stream: Int, below limit: Int?) throws {
        for drop in drops.take(stream: stream, below: limit) {
            precondition(
                drop.index == nextIndex[stream],
                "stream \(stream): frame \(nextIndex[stream]) lost without a drop record")
            try events?.write(
                FrameResult(
                    stream: stream, frame: drop.index, pts: drop.pts, model: tag, batch: 0, detections: [],
                    dropped: drop.reason))
            nextIndex[stream] += 1
            dropped[stream] += 1
            timeline.dropped(at: Clock.now - origin)
        }
        if let limit { precondition(nextIndex[stream] == limit, "stream \(stream): frames missing before \(limit)") }
    }

    /// After the last batch: frames shed at the very end, then the annotated videos completed.
    mutating func finish() throws {
        for stream in sources.indices { try writeGap(stream: stream, below: nil) }
        var first: (any Error)?
        for stream in encoders.keys.sorted() {
            do {
                encode.add(try encoders[stream]!.finish())
            } catch {
                first = first ?? error
            }
        }
        if let first { throw first }
    }

    /// The run failed: stop the encoding threads.
    func cancel() {
        for encoder in encoders.values { encoder.cancel() }
    }

    func stats(
        options: PipelineOptions, requests: Int, seconds: Double, info: VideoInfo,
        queues: [String: RunStats.QueueStats],
        sourceErrors: [Int: String], resources: ResourceSummary, machine: MachineInfo, deviceInfo: [String: String]
    ) -> RunStats {
        var stages = [
            "decode": decode.summary, "preprocess": preprocess.summary, "infer": infer.summary,
            "postprocess": postprocess.summary,
        ]
        if encode.summary.count > 0 { stages["encode"] = encode.summary }
        let streams = sources.indices.map { i -> RunStats.StreamStats in
            let span = (firstOut[i].map { lastOut[i] - $0 }) ?? 0
            let written = nextIndex[i] - dropped[i]
            return RunStats.StreamStats(
                source: sources[i], frames: written, fps: span > 0 ? Double(written - 1) / span : 0,
                lag: lag[i].summary, error: sourceErrors[i], dropped: dropped[i])
        }
        let firstError = sourceErrors.sorted { $0.key < $1.key }.first.map { "\(sources[$0.key]): \($0.value)" }
        var stats = RunStats(
            source: sources.joined(separator: ","), model: tag, device: options.device, frames: frames,
            dropped: dropped.reduce(0, +),
            expectedFrames: sources.count == 1 ? info.frameCount : nil, seconds: seconds,
            fps: seconds > 0 ? Double(frames) / seconds : 0, stages: stages,
            inferPerFrameMs: frames > 0 ? infer.total / Double(frames) * 1000 : 0,
            batchSizes: Dictionary(uniqueKeysWithValues: batches.map { (String($0.key), $0.value) }),
            queues: queues,
            video: .init(width: info.width, height: info.height, fps: info.frameRate, codec: info.codec),
            error: firstError, mode: options.mode.rawValue, requestsInFlight: requests,
            preprocessWorkers: options.mode == .sequential ? 1 : options.preprocessWorkers,
            perBatch: ["preprocess": batchPre.summary, "infer": infer.summary, "postprocess": batchPost.summary],
            streams: streams, resources: resources, machine: machine, deviceInfo: deviceInfo,
            batchPolicy: options.batchPolicy.rawValue, shedPolicy: options.effectiveShed.rawValue,
            batchDecisions: manager?.decisions ?? [])
        stats.timeline = timeline.points
        stats.batchDecisionCount = manager?.decisionCount
        return stats
    }
}
