import Batching
import Core
import Foundation
import InferenceBackend
import InferenceEngine
import Logging
import ModelRegistry
import Monitoring
import Synchronization
import Tracking
import VideoIO
import Vision

/// Sequential mode (the paper's 3a): one thread does everything, a frame at a time.
extension DetectionPipeline {
    // MARK: Sequential (3a)

    func runSequential(
        _ decoders: [FrameSource], detector: any InferenceEngine, output: inout OutputStage, errors: SourceErrors
    ) throws -> [String: RunStats.QueueStats] {
        var pacers = options.sources.map { Pacer(realtime: options.realtime, source: $0) }
        var counts = Array(repeating: 0, count: decoders.count)
        var live = Array(decoders.indices)
        var preprocessor = Preprocessor(input: detector.input)
        var gates =
            options.tracking?.motion == true
            ? decoders.map { _ in MotionGate(floor: TrackingSettings.motionFloor) } : nil
        let slot = try detector.slots(batch: 1, count: 1)[0]
        while !live.isEmpty && !stopSignal.isRaised {
            for stream in live {
                if let max = options.maxFrames, counts[stream] >= max {
                    live.removeAll { $0 == stream }
                    continue
                }
                let t0 = Clock.now
                let interval = output.streams[stream]?.sink.interval
                let planned = interval?.infers(frame: decoders[stream].framesRead) ?? true
                let frame: VideoFrame?
                do {
                    frame = try decoders[stream].nextFrame(picture: planned || output.encoders[stream] != nil)
                } catch {
                    errors.record(stream, error)
                    frame = nil
                }
                guard let frame else {
                    live.removeAll { $0 == stream }
                    continue
                }
                let decoded = Clock.now - t0
                pacers[stream].wait(for: frame.pts, unless: stopSignal)
                let source = SourceFrame(stream: stream, frame: frame, decodeSeconds: decoded, arrival: Clock.now)
                counts[stream] += 1
                var skip: SkipReason?
                if let interval {
                    var gate = gates?[stream]
                    skip = DecodeStage.skip(frame, planned, interval, &gate)
                    if let gate { gates?[stream] = gate }
                }
                if let reason = skip {
                    // Left to the tracker: answered in its turn, after the frames before it.
                    output.drops.recordTracked(
                        stream: stream, frame: frame, arrival: source.arrival, keep: output.encoders[stream] != nil,
                        reason: reason)
                    try output.writeTrackedRun(stream: stream)
                    continue
                }
                let ready = PreprocessStage.run(source, with: &preprocessor)
                try slot.fill([ready.input])
                let t1 = Clock.now
                try slot.start()
                try slot.wait()
                let inferSeconds = Clock.now - t1
                let outputs = try slot.outputs()
                try output.emit(
                    InferredBatch(
                        frames: [ready], outputs: outputs, inferSeconds: inferSeconds, slotBatch: 1,
                        model: detector.tag, decoder: detector.decoder))
            }
        }
        return [:]
    }
}
