import Foundation
import InferenceBackend
import Logging
import VideoIO
import Vision

/// What a finished run reports.
public struct RunReport: Sendable {
    /// The summary (`--stats`).
    public var stats: RunStats
    /// Why the source ended early, when it did: every frame before it was processed and written.
    public var sourceError: (any Error & CustomStringConvertible)?
}

/// Decode -> pre-process -> batched inference -> post-process, with events, stats and an annotated video.
///
/// Decoding runs on its own thread, feeding a bounded queue (the decoder blocks when it is full);
/// pre-processing, inference and post-processing run on a second thread, which keeps frame order.
/// Neither touches Swift's cooperative pool.
public final class DetectionPipeline: Sendable {
    /// What to run.
    public let options: PipelineOptions
    private let logger: Logger

    /// Creates a pipeline; nothing is opened until `run`.
    public init(options: PipelineOptions, logger: Logger = Logger(label: "batchline.pipeline")) {
        self.options = options
        self.logger = logger
    }

    /// Runs to the end of the source on dedicated threads and returns the report.
    public func run() async throws -> RunReport {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try self.runBlocking())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "batchline-pipeline"
            thread.start()
        }
    }

    /// Runs on the calling thread (which must not be on the cooperative pool) and returns the report.
    public func runBlocking() throws -> RunReport {
        try options.validate()
        let setupStart = Clock.now
        let core = try InferenceCore()
        let detector = try Detector(path: options.model, core: core, device: options.device)
        // Compile for the batch size now, so a model that cannot take it fails before any decoding.
        _ = try detector.request(batch: options.batchSize)
        logger.info(
            "model ready",
            metadata: [
                "model.tag": "\(detector.tag)", "model.file": "\(detector.modelFile)",
                "batch.size": "\(options.batchSize)", "seconds": "\(Clock.now - setupStart)",
            ])

        let decoder = try VideoDecoder(input: options.source, options: DecoderOptions(timeout: options.sourceTimeout))
        let info = decoder.info
        let events = try options.eventsPath.map { path throws(OutputError) in try EventWriter(path: path) }
        let encoder = try options.annotatePath.map { path throws(VideoError) in
            try VideoEncoder(output: path, width: info.width, height: info.height, frameRate: info.frameRate)
        }

        let queue = BoundedQueue<DecodedItem>(capacity: options.queueCapacity)
        let decodeDone = DispatchSemaphore(value: 0)
        let handoff = Handoff(decoder)
        let opts = options
        let start = Clock.now
        let decodeThread = Thread {
            Self.decodeLoop(handoff.value, into: queue, options: opts)
            decodeDone.signal()
        }
        decodeThread.name = "batchline-decode"
        decodeThread.start()

        var work = ProcessingState(detector: detector, options: options, expected: info.frameCount)
        do {
            try work.process(queue, events: events, encoder: encoder)
        } catch {
            queue.close()
            decodeDone.wait()
            work.progress.finish()
            throw error
        }
        decodeDone.wait()
        work.progress.finish()
        try encoder?.finish()
        try events?.close()

        let seconds = Clock.now - start
        let stats = work.stats(
            source: options.source, device: options.device, seconds: seconds, info: info,
            queue: queue.depth, capacity: queue.capacity)
        if let statsPath = options.statsPath {
            try writeJSON(stats, to: statsPath)
        }
        return RunReport(stats: stats, sourceError: work.sourceError)
    }

    /// Reads frames until the source ends, fails, `maxFrames` is reached, or the queue is closed.
    private static func decodeLoop(
        _ decoder: VideoDecoder, into queue: BoundedQueue<DecodedItem>, options: PipelineOptions
    ) {
        defer { queue.close() }
        var count = 0
        let pace = options.realtime && !options.source.contains("://")
        let start = Clock.now
        var firstPts: Double?
        while options.maxFrames.map({ count < $0 }) ?? true {
            let t0 = Clock.now
            let frame: VideoFrame?
            do {
                frame = try decoder.nextFrame()
            } catch {
                queue.push(.failed(error))
                return
            }
            guard let frame else { return }
            let spent = Clock.now - t0
            if pace {
                let origin = firstPts ?? frame.pts
                firstPts = origin
                let due = start + (frame.pts - origin)
                let wait = due - Clock.now
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
            guard queue.push(.frame(frame, decodeSeconds: spent, arrival: Clock.now)) else { return }
            count += 1
        }
    }
}

/// What the decode thread hands over.
enum DecodedItem: Sendable {
    case frame(VideoFrame, decodeSeconds: Double, arrival: Double)
    case failed(VideoError)
}

/// Moves a non-Sendable object to the one thread that uses it from then on.
///
/// `@unchecked Sendable`: the sender gives the value up at the hand-off and never touches it again.
struct Handoff<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The processing thread's state: pending batch, timings, progress.
struct ProcessingState {
    let detector: Detector
    let options: PipelineOptions
    var preprocessor: Preprocessor
    let annotator = Annotator()
    var progress: ProgressLine
    var sourceError: (any Error & CustomStringConvertible)?
    private var pending: [(frame: VideoFrame, input: [UInt8])] = []
    private var decode = StageStats()
    private var preprocess = StageStats()
    private var infer = StageStats()
    private var postprocess = StageStats()
    private var encode = StageStats()
    private var inferPerFrame = 0.0
    private var batches: [Int: Int] = [:]
    private var frames = 0
    private var nextIndex = 0

    init(detector: Detector, options: PipelineOptions, expected: Int?) {
        self.detector = detector
        self.options = options
        preprocessor = Preprocessor(input: detector.spec.input)
        let total = [expected, options.maxFrames].compactMap { $0 }.min()
        progress = ProgressLine(enabled: options.progress && !options.source.contains("://"), total: total)
    }

    mutating func process(_ queue: BoundedQueue<DecodedItem>, events: EventWriter?, encoder: VideoEncoder?) throws {
        var deadline = Double.infinity
        while true {
            let next: PopResult<DecodedItem> =
                pending.isEmpty ? (queue.pop().map { .element($0) } ?? .closed) : queue.pop(until: deadline)
            switch next {
            case .element(.frame(let frame, let decodeSeconds, _)):
                decode.add(decodeSeconds)
                let t0 = Clock.now
                var input = [UInt8](repeating: 0, count: preprocessor.bytesPerFrame)
                frame.pixels.withUnsafeBufferPointer { px in
                    input.withUnsafeMutableBytes { out in
                        preprocessor.run(RGBImage(width: frame.width, height: frame.height, pixels: px), into: out)
                    }
                }
                preprocess.add(Clock.now - t0)
                if pending.isEmpty { deadline = Clock.now + options.batchTimeout }
                pending.append((frame, input))
                if pending.count == options.batchSize { try flush(events: events, encoder: encoder) }
            case .element(.failed(let error)):
                sourceError = error
            case .timedOut:
                try flush(events: events, encoder: encoder)
            case .closed:
                try flush(events: events, encoder: encoder)
                return
            }
        }
    }

    private mutating func flush(events: EventWriter?, encoder: VideoEncoder?) throws {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        let (detections, inferSeconds, decodeSeconds) = try detector.detect(
            batch.map(\.input), sizes: batch.map { ($0.frame.width, $0.frame.height) })
        infer.add(inferSeconds)
        inferPerFrame += inferSeconds
        batches[batch.count, default: 0] += 1
        for (item, found) in zip(batch, detections) {
            // Frames leave in the order they were decoded; anything else is a bug worth stopping for.
            precondition(item.frame.index == nextIndex, "frame \(item.frame.index) out of order")
            nextIndex += 1
            var post = decodeSeconds / Double(batch.count)
            let result = FrameResult(
                stream: 0, frame: item.frame.index, pts: item.frame.pts, model: detector.tag, batch: batch.count,
                detections: found)
            try events?.write(result)
            if let encoder {
                let t0 = Clock.now
                var pixels = item.frame.pixels
                annotator.draw(found, on: &pixels, width: item.frame.width, height: item.frame.height)
                let t1 = Clock.now
                post += t1 - t0
                try encoder.write(rgb: pixels)
                encode.add(Clock.now - t1)
            }
            postprocess.add(post)
            frames += 1
        }
        progress.update(frames: frames)
    }

    func stats(
        source: String, device: String, seconds: Double, info: VideoInfo, queue: (now: Int, highWater: Int),
        capacity: Int
    ) -> RunStats {
        var stages = [
            "decode": decode.summary, "preprocess": preprocess.summary, "infer": infer.summary,
            "postprocess": postprocess.summary,
        ]
        if encode.summary.count > 0 { stages["encode"] = encode.summary }
        return RunStats(
            source: source, model: detector.tag, device: device, frames: frames, dropped: 0,
            expectedFrames: info.frameCount, seconds: seconds, fps: seconds > 0 ? Double(frames) / seconds : 0,
            stages: stages, inferPerFrameMs: frames > 0 ? inferPerFrame / Double(frames) * 1000 : 0,
            batchSizes: Dictionary(uniqueKeysWithValues: batches.map { (String($0.key), $0.value) }),
            queues: ["decoded": .init(capacity: capacity, highWater: queue.highWater)],
            video: .init(width: info.width, height: info.height, fps: info.frameRate, codec: info.codec),
            error: sourceError?.description)
    }
}

/// Writes `value` as pretty JSON with sorted keys.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
        try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    } catch {
        throw OutputError(path: path, message: "cannot write: \(error.localizedDescription)")
    }
}
