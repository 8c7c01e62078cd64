import Analytics
import Batching
import Core
import Foundation
import Logging
import Monitoring
import Tracking
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
    /// For an inference request (no stream): where its outputs go.
    var ticket: InferenceTicket? = nil
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
    /// When the batch started on the device.
    var started = 0.0
}

/// The last stage, on one thread: decodes outputs into detections, writes events and annotated
/// video, and keeps every figure of the run. Checks that each stream's frames leave in order.
///
/// Streams join and leave while it runs (a service's): each has its own record, events file if it
/// has one, and handle; once a stream that ended has every frame it read written (or written as a
/// gap), its events file is closed complete and its handle says so.
struct OutputStage {
    /// One stream's figures and destination.
    struct StreamOut {
        var sink: StreamSink
        var next = 0
        var lag = StageStats()
        var firstOut: Double?
        var lastOut = 0.0
        var dropped = 0
        /// Frames its source numbered in all, once it ended.
        var final: Int?
        var complete = false
        /// Its own events file failed for good (it cannot be rotated or was closed): it is not
        /// written again, the stream is failed, and the others go on.
        var writeFailed = false
        /// What its handle was last told of its events file: why it refuses, lines lost.
        var told: (error: String?, lost: Int) = (nil, 0)
        /// Its tracker, when the stream is tracked.
        var tracking: StreamTracker?
        /// Its lines and zones, when it has any (on the tracker's clock).
        var analytics: StreamAnalytics?
        /// The frame size its lines and zones were checked against (once, at its first frame).
        var analyticsChecked = false
        /// Its lines and zones were given over HTTP (a misfit drops them, not the run).
        var analyticsReplaced = false
        /// Events its lines and zones issued before the last replacement (the new ones' ids go on).
        var eventsIssued: UInt64 = 0
        /// Frames its tracker answered without the detector, and by why it skipped them.
        var tracked = 0
        var skipped: [String: Int] = [:]

        init(sink: StreamSink, stream: Int = 0) {
            self.sink = sink
            tracking = sink.tracking.map { StreamTracker(config: $0.tracker) }
            if let spec = sink.tracking?.analytics, !spec.isEmpty {
                analytics = StreamAnalytics(spec: spec, idPrefix: "\(EventIDs.run)-\(sink.name ?? String(stream))")
            }
        }
    }

    /// The version that produced the last batch (gap events name it).
    private(set) var tag: String
    let sources: [String]
    let events: EventWriter?
    let encoders: [Int: EncoderWorker]
    let annotator = Annotator()
    var progress: ProgressLine
    /// Events carry the wall-clock time (a service's do).
    var wallClock = false
    /// A stream's record is dropped once it is complete (a service's streams come and go for months).
    var forgetCompleted = false
    /// Frames shed one after another for the same reason share one line (`"through"`: the last of
    /// them), so that a stream that sheds most of what it offers writes little (a service's).
    var compactDrops = false
    private(set) var decode = StageStats()
    private(set) var preprocess = StageStats()
    private(set) var infer = StageStats()
    private(set) var postprocess = StageStats()
    private(set) var encode = StageStats()
    private(set) var batchPre = StageStats()
    private(set) var batchPost = StageStats()
    private(set) var batches: [Int: Int] = [:]
    private(set) var frames = 0
    var streams: [Int: StreamOut] = [:]
    var timeline = Timeline()
    private var lastFlush = Clock.now
    /// Seconds between flushes of the events files: what a SIGKILL can take.
    var flushInterval = 1.0
    /// Where an events file that starts or stops failing is told.
    var logger: Logger?
    /// The run's start, for the timeline.
    let origin = Clock.now
    /// Sheds and gaps; the controller, when the batch size is managed.
    let drops: DropLog
    let manager: BatchManager?
    /// What the model did, for the inference protocol's statistics and the metrics.
    var counters: InferenceCounters?
    /// The score a detection needs to be reported; nil: the model's own (its sidecar's).
    var scoreThreshold: Float?

    init(
        tag: String, sources: [String], events: EventWriter?,
        encoders: [Int: EncoderWorker], progress: ProgressLine, drops: DropLog = DropLog(),
        manager: BatchManager? = nil, intervals: [StreamInterval?] = []
    ) {
        self.drops = drops
        self.manager = manager
        self.tag = tag
        self.sources = sources
        self.events = events
        self.encoders = encoders
        self.progress = progress
        for (i, source) in sources.enumerated() {
            streams[i] = StreamOut(
                sink: StreamSink(source: source, interval: intervals.indices.contains(i) ? intervals[i] : nil),
                stream: i)
        }
    }

    /// Post-processes and writes every frame of `batch`, in order; `queueDepth` (frames waiting in the
    /// queues now) goes to the batch size manager. `directory` says which streams joined and left.
    mutating func emit(_ batch: InferredBatch, queueDepth: Int = 0, streams directory: StreamDirectory? = nil) throws {
        if let directory { try sync(directory) }
        infer.add(batch.inferSeconds)
        tag = batch.model
        batches[batch.frames.count, default: 0] += 1
        var preSum = 0.0
        var postSum = 0.0
        var decodeSum = 0.0
        var lags: [Double] = []
        var queued = 0.0
        var answered = 0
        for (i, item) in batch.frames.enumerated() {
            let s = item.source
            queued += max(0, batch.started - s.arrival)
            if let ticket = item.ticket {
                // A request, not a stream's frame: its raw outputs go back as they are.
                ticket.complete(batch.outputs.mapValues { $0.slice(i) })
                answered += 1
                lags.append(Clock.now - s.arrival)
                continue
            }
            guard streams[s.stream] != nil else { preconditionFailure("frame of stream \(s.stream), never attached") }
            if s.frame.index > streams[s.stream]!.next { try writeGap(stream: s.stream, below: s.frame.index) }
            // Each stream's frames leave in the order they were decoded; anything else is a bug worth stopping for.
            precondition(
                s.frame.index == streams[s.stream]!.next, "stream \(s.stream) frame \(s.frame.index) out of order")
            streams[s.stream]!.next += 1
            decodeSum += s.decodeSeconds
            decode.add(s.decodeSeconds)
            preprocess.add(item.preprocessSeconds)
            preSum += item.preprocessSeconds
            let t0 = Clock.now
            let reportThreshold = scoreThreshold ?? batch.decoder.scoreThreshold
            var found = try batch.decoder.decode(
                batch.outputs, index: i, width: s.frame.width, height: s.frame.height,
                threshold: streams[s.stream]!.tracking?.decodeThreshold(reporting: reportThreshold) ?? scoreThreshold)
            if streams[s.stream]!.tracking != nil {
                found = streams[s.stream]!.tracking!.inferred(
                    found, pts: s.frame.pts, reportThreshold: reportThreshold)
                streams[s.stream]!.sink.interval?.noteSteadiness(streams[s.stream]!.tracking!.steadiness)
            }
            var post = Clock.now - t0
            let sink = streams[s.stream]!.sink
            var result = FrameResult(
                stream: s.stream, frame: s.frame.index, pts: s.frame.pts, model: batch.model, batch: batch.frames.count,
                detections: found)
            result.events = try analyse(found, stream: s.stream, frame: s.frame, decodedAt: s.arrival)
            result.name = sink.name
            if wallClock { result.time = Date().timeIntervalSince1970 }
            let kept = try write(result, stream: s.stream)
            if let encoder = encoders[s.stream] {
                let t1 = Clock.now
                var pixels = s.frame.pixels
                annotator.draw(found, on: &pixels, width: s.frame.width, height: s.frame.height)
                post += Clock.now - t1
                try encoder.write(pixels)
            }
            postprocess.add(post)
            postSum += post
            sink.handle?.wrote(s.frame, found)
            lags.append(written(stream: s.stream, decodedAt: s.arrival, kept: kept))
        }
        batchPre.add(preSum)
        batchPost.add(postSum)
        counters?.batch(
            size: batch.slotBatch, frames: batch.frames.count, requests: answered, inferSeconds: batch.inferSeconds,
            queueSeconds: queued, tag: batch.model)
        progress.update(frames: frames)
        if let manager {
            // Only full batches teach the cost model: a padded partial batch says little about its size.
            let full = batch.frames.count == batch.slotBatch
            manager.observe(
                batch: batch.slotBatch, model: batch.model,
                stageSeconds: full
                    ? [
                        .decode: decodeSum, .preprocess: preSum, .infer: batch.inferSeconds, .postprocess: postSum,
                    ] : [:], lags: lags, queueDepth: queueDepth)
        }
        // Other tracked streams' frames decoded since, answered without waiting for their next
        // detector frame.
        try writeTrackedRuns()
        if directory != nil {
            try completeEnded()
            flushEverySecond()
        }
    }

    /// Counts a frame of `stream` as written (its line `kept`, or refused and counted as lost
    /// instead): its lag from `decodedAt`, the stream's figures, its handle's, the timeline. The lag.
    mutating func written(stream: Int, decodedAt: Double, kept: Bool) -> Double {
        let now = Clock.now
        let lag = max(0, now - decodedAt)
        streams[stream]!.lag.add(lag)
        if kept { streams[stream]!.sink.handle?.wrote(lag: lag, at: now) }
        timeline.frame(at: now - origin, lag: lag)
        if streams[stream]!.firstOut == nil { streams[stream]!.firstOut = now }
        streams[stream]!.lastOut = now
        frames += 1
        return lag
    }

    /// Writes an event to the stream's own file, or the run's; whether its line was kept (written,
    /// or held while the disk refuses). A stream's own file that refuses holds its lines and says so
    /// on the handle until the disk takes them again; one that fails for good fails that stream
    /// alone. The run's file failing fails the run.
    @discardableResult
    mutating func write(_ result: FrameResult, stream: Int) throws -> Bool {
        let sink = streams[stream]!.sink
        guard let own = sink.events else {
            if let events {
                try events.write(result)
                if let failure = events.failure { throw OutputError(path: events.path, message: failure) }
            }
            return true
        }
        guard !streams[stream]!.writeFailed else { return false }
        do {
            let kept = try own.write(result) == .kept
            report(stream)
            return kept
        } catch {
            streams[stream]!.writeFailed = true
            try? own.close()
            sink.handle?.failed("\(error)")
            return false
        }
    }

    /// Tells the stream's handle (and the log, once each way) when its events file starts or stops
    /// refusing, and how many lines were lost.
    private mutating func report(_ stream: Int) {
        guard let out = streams[stream], let own = out.sink.events else { return }
        let now = (error: own.failure, lost: own.lost)
        guard now.error != out.told.error || now.lost != out.told.lost else { return }
        let name = out.sink.name ?? String(stream)
        if let error = now.error, out.told.error == nil {
            logger?.error(
                "events file refuses writes: lines are held, then lost and counted, until it takes them again",
                metadata: ["stream": "\(name)", "file": "\(own.path)", "error": "\(error)"])
        } else if now.error == nil, out.told.error != nil {
            logger?.notice(
                "events file writes again", metadata: ["stream": "\(name)", "lost": "\(now.lost)"])
        }
        streams[stream]!.told = now
        out.sink.handle?.events(error: now.error, lost: now.lost)
    }

    /// The pipeline failed: every stream's file is closed as it is and its handle says so.
    mutating func abandon(_ error: any Error) {
        for (_, out) in streams where !out.complete {
            try? out.sink.events?.close()
            out.sink.handle?.failed("the pipeline stopped: \(error)")
            out.sink.handle?.completed()
        }
        streams.removeAll()
    }

    private mutating func flushEverySecond() {
        let now = Clock.now
        guard now - lastFlush >= flushInterval else { return }
        lastFlush = now
        events?.flush()
        for (stream, out) in streams where !out.writeFailed {
            out.sink.events?.flush()
            report(stream)
        }
    }

    /// Between batches: streams that joined are taken on, streams that ended are completed, and,
    /// once a second, events files are flushed so that their readers see every line so far.
    mutating func tick(streams directory: StreamDirectory) throws {
        try sync(directory)
        try writeTrackedRuns()
        try completeEnded()
        flushEverySecond()
    }

    private mutating func sync(_ directory: StreamDirectory) throws {
        let (added, ended) = directory.take()
        for (stream, sink) in added { streams[stream] = StreamOut(sink: sink, stream: stream) }
        for (stream, count) in ended { streams[stream]?.final = count }
    }

    /// Streams whose source ended and whose every frame is out (written, or shed and written as a
    /// gap): their events files are closed, complete, and their handles told.
    private mutating func completeEnded() throws {
        for (stream, out) in streams where out.final != nil && !out.complete {
            try writeShedRun(stream: stream)
            guard let state = streams[stream], state.next >= state.final! else { continue }
            streams[stream]!.complete = true
            if !state.writeFailed {
                do {
                    try state.sink.events?.close()
                } catch {
                    state.sink.handle?.failed("\(error)")
                }
                report(stream)
            }
            state.sink.handle?.completed()
            if forgetCompleted {
                streams[stream] = nil
                drops.forget(stream: stream)
            }
        }
    }

    /// After the last batch: frames shed at the very end, then the annotated videos completed.
    mutating func finish() throws {
        for stream in streams.keys.sorted() where !streams[stream]!.complete {
            try writeGap(stream: stream, below: nil)
        }
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
}
