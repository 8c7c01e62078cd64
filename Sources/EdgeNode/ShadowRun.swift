import Core
import Foundation
import InferenceEngine
import ModelRegistry
import Synchronization
import VideoIO
import Vision

/// A version run beside the serving one on a sample of the node's own live frames, off the hot
/// path: its agreement with the serving version (`AccuracyGate`: F1 and mean IoU for detectors,
/// top-1 for classifiers), as `GET /api/v1/models/{name}/shadow` shows it.
public struct ShadowStatus: Sendable, Encodable, Equatable {
    public enum State: String, Sendable, Encodable {
        case loading, running, done, failed, stopped
    }

    public var model: String
    /// The version being judged.
    public var version: Int
    /// The version it is compared with (serving when the run began).
    public var serving_version: Int
    public var state: State
    /// `f1` or `top1`.
    public var metric: String
    /// Frames compared so far, and wanted.
    public var frames: Int
    public var target_frames: Int
    /// F1 of the candidate's detections against the serving version's (or top-1 agreement).
    public var agreement: Double?
    public var mean_iou: Double?
    public var matched: Int
    public var missed: Int
    public var extra: Int
    /// Milliseconds between sampled frames: the CPU it may take (two inferences a sample).
    public var every_ms: Int
    public var reason: String?
}

/// One shadow evaluation on its own thread: both versions loaded apart from the pipeline (the
/// serving one again, so that the hot path's batches are untouched), a frame taken from the
/// model's streams every `every` seconds (round robin, only a frame not seen yet), run through
/// both at batch 1, and compared, until `frames` frames or `stop()`.
final class ShadowRun: Sendable {
    let status: Mutex<ShadowStatus>
    private let stopSignal = StopSignal()

    /// Starts judging `candidate` against `serving` on frames `frames()` gives (the latest frame
    /// of each of the model's streams, by stream id).
    init(
        model: String, candidate: ModelVersion, serving: ModelVersion, target: Int, every: Double, device: String,
        frames: @escaping @Sendable () -> [(id: String, frame: VideoFrame)]
    ) {
        let metric: AccuracyGate.Metric = candidate.spec.task == "classification" ? .top1 : .f1
        status = Mutex(
            ShadowStatus(
                model: model, version: candidate.version, serving_version: serving.version, state: .loading,
                metric: metric.rawValue, frames: 0, target_frames: target, agreement: nil, mean_iou: nil, matched: 0,
                missed: 0, extra: 0, every_ms: Int(every * 1000), reason: nil))
        let stop = stopSignal
        let thread = Thread { [self] in
            run(
                candidate: candidate, serving: serving, metric: metric, target: target, every: every, device: device,
                frames: frames, stop: stop)
        }
        thread.name = "shadow-\(model)"
        thread.start()
    }

    /// Ends the run (a newer one replaces it, or the node stops).
    func stop() {
        stopSignal.raise()
        status.withLock { s in if s.state == .loading || s.state == .running { s.state = .stopped } }
    }

    private func run(
        candidate: ModelVersion, serving: ModelVersion, metric: AccuracyGate.Metric, target: Int, every: Double,
        device: String, frames: @Sendable () -> [(id: String, frame: VideoFrame)], stop: StopSignal
    ) {
        let engines: (any InferenceEngine, any InferenceEngine)
        let slots: (any EngineSlot, any EngineSlot)
        do {
            let loader = try OpenVINOLoader()
            let judged = try loader.load(
                path: candidate.directory, name: candidate.name, version: String(candidate.version), device: device,
                hint: .latency)
            let reference = try loader.load(
                path: serving.directory, name: serving.name, version: String(serving.version), device: device,
                hint: .latency)
            engines = (judged, reference)
            slots = (try judged.slots(batch: 1, count: 1)[0], try reference.slots(batch: 1, count: 1)[0])
        } catch {
            status.withLock { s in
                s.state = .failed
                s.reason = "version \(candidate.version) cannot be loaded: \(error)"
            }
            return
        }
        status.withLock { s in if s.state == .loading { s.state = .running } }
        var gate = AccuracyGate(metric: metric, threshold: 0)
        var seen: [String: Int] = [:]
        var turn = 0
        while gate.frames < target, !stop.isRaised {
            let available = frames().filter { seen[$0.id] != $0.frame.index && $0.frame.hasPicture }
            if !available.isEmpty {
                let pick = available[turn % available.count]
                turn += 1
                seen[pick.id] = pick.frame.index
                do {
                    let original = try Self.detect(engines.1, slots.1, pick.frame)
                    let judged = try Self.detect(engines.0, slots.0, pick.frame)
                    gate.add(original: original, candidate: judged)
                    status.withLock { s in
                        s.frames = gate.frames
                        s.agreement = gate.canJudge ? gate.score : nil
                        s.mean_iou = gate.meanIoU
                        s.matched = gate.matched
                        s.missed = gate.missed
                        s.extra = gate.extra
                    }
                } catch {
                    status.withLock { s in
                        s.state = .failed
                        s.reason = "inference failed: \(error)"
                    }
                    return
                }
            }
            if stop.sleep(seconds: every) { break }
        }
        status.withLock { s in if s.state == .running { s.state = gate.frames >= target ? .done : .stopped } }
    }

    /// The engine's detections on `frame`, pre-processed as the model takes it, at batch 1.
    static func detect(_ engine: any InferenceEngine, _ slot: any EngineSlot, _ frame: VideoFrame) throws
        -> [Detection]
    {
        var preprocessor = Preprocessor(input: engine.input)
        var buffer = [UInt8](repeating: 0, count: preprocessor.bytesPerFrame)
        frame.pixels.withUnsafeBufferPointer { pixels in
            buffer.withUnsafeMutableBytes { destination in
                preprocessor.run(RGBImage(width: frame.width, height: frame.height, pixels: pixels), into: destination)
            }
        }
        try slot.fill([buffer])
        try slot.start()
        try slot.wait()
        return try engine.decoder.decode(try slot.outputs(), index: 0, width: frame.width, height: frame.height)
    }
}
