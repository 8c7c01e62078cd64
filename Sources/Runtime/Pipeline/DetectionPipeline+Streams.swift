import Batching
import Core
import CoreMetrics
import Foundation
import InferenceBackend
import InferenceEngine
import Logging
import ModelRegistry
import ModelServing
import Monitoring
import Synchronization
import VideoIO
import Vision

// Streams joining the pipeline: those given at the start, and those attached while it runs.
extension DetectionPipeline {
    /// Attaches a stream while the pipeline runs (staged modes): it is opened and read on its own
    /// thread (a camera that is not up yet is retried until it answers, for as long as it is
    /// attached), shares the batcher with the others, and keeps its own order and numbering. Its
    /// results go to `eventsPath` (one JSON line per frame, carrying the stream's name and the wall
    /// clock; rotated past `rotateBytes`). `handle.stop()` removes it: frames in flight drain, then
    /// its events file is closed complete (`handle.isComplete`). With `record`, each of its events
    /// gets a clip (the pipeline must have been given a clip store).
    public func attach(
        id: String, source: String, model: String, loop: Bool, realtime: Bool, eventsPath: String?,
        rotateBytes: Int? = nil, keep: Int = 3, tracking: TrackingSettings? = nil, record: ClipSettings? = nil
    ) throws -> StreamHandle {
        guard let runtime else {
            throw PipelineError(.notReady, "the pipeline for \(options.model) is not running")
        }
        if let record {
            if let problem = record.problem { throw PipelineError(.invalidOptions, "\(id): record: \(problem)") }
            guard media.clips != nil else {
                throw PipelineError(.invalidOptions, "\(id): record: this node keeps no clips (output.clips)")
            }
        }
        let number = nextStream.withLock { n in
            defer { n += 1 }
            return n
        }
        let events = try eventsPath.map { path throws(OutputError) in
            // A file already there (a restart, or the id added again) is kept, rotated, not truncated.
            try EventWriter(path: path, rotateBytes: rotateBytes, keep: keep, start: .rotate)
        }
        let handle = StreamHandle(
            id: id, number: number, source: source, model: model, loop: loop, realtime: realtime,
            stop: stopSignal.child(), metrics: metricsFactory,
            tell: nodeEvents.map { hub in { @Sendable change in hub.publish(.stream(change)) } }, tracking: tracking,
            tellAnalytics: nodeEvents.map { hub in { @Sendable event in hub.publish(.analytics(stream: id, event)) } },
            recorder: recorder, media: media, record: record)
        let stop = handle.stopSignal
        let decoderOptions = DecoderOptions(timeout: options.sourceTimeout, cancelled: { stop.isRaised })
        let reader = FrameSource(
            input: source, giveUpAfter: nil, loop: loop, options: decoderOptions, logger: logger, handle: handle,
            stop: stop)
        let decode = DecodeSettings(
            maxFrames: nil, realtime: realtime,
            shed: options.shed ?? (realtime || source.contains("://") ? .dropOldest : .backlog), join: nil, leave: nil,
            announce: true, name: id, interval: handle.interval)
        // Told before its source can move it (`connecting` first, then whatever it becomes).
        handle.announce()
        let started = runtime.attach(
            Handoff(reader), stream: number, decode: decode,
            sink: StreamSink(events: events, handle: handle, name: id, source: source, interval: handle.interval),
            stop: stop)
        guard started else {
            try? events?.close()
            handle.destroyMetrics()
            throw PipelineError(.notReady, "the pipeline for \(options.model) is stopping")
        }
        return handle
    }

    /// Whether `stop` was called.
    var stopRequested: Bool { stopSignal.isRaised }

    /// The sources given at the start, as streams 0..<n.
    func attachSources(_ decoders: [FrameSource], intervals: [StreamInterval?], to staged: StagedRuntime) {
        for (stream, decoder) in decoders.enumerated() {
            let window = options.schedule[stream]
            let interval = intervals[stream]
            let decode = DecodeSettings(
                maxFrames: options.maxFrames, realtime: options.realtime, shed: options.effectiveShed,
                join: window?.join, leave: window?.leave, announce: false, interval: interval,
                annotated: options.annotatePath != nil)
            staged.attach(
                Handoff(decoder), stream: stream, decode: decode,
                sink: StreamSink(source: options.sources[stream], interval: interval), stop: stopSignal)
        }
    }
}
