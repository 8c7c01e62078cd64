import Batching
import Core
import Foundation
import Monitoring
import Tracking
import VideoIO

/// How one stream's decoding thread feeds the shared queue.
struct DecodeSettings: Sendable {
    /// Stop after this many frames.
    var maxFrames: Int?
    /// Pace a file at its native rate (`--realtime`, `realtime: true`).
    var realtime: Bool
    /// What a full queue does.
    var shed: ShedPolicy
    /// Seconds after the run's start at which the stream joins and leaves (`--schedule`).
    var join: Double?
    var leave: Double?
    /// Tell the batch size manager when the stream joins (a stream added while running; the
    /// initial ones are counted from the start).
    var announce: Bool
    /// The stream's name in the manager's log (nil: its number).
    var name: String? = nil
    /// The stream's inference interval, when it is tracked; nil: every frame goes to the detector.
    var interval: StreamInterval? = nil
    /// Frames left to the tracker keep their picture for the stream's annotated video.
    var annotated = false
}

/// One stream's decoding thread: reads frames from its source and puts them in its lane of the
/// queue all streams share (the stream muxer, a `FairQueue`: streams take turns), as `shed` says
/// when its lane is full: `backlog` waits for room, `drop-oldest` evicts its own oldest frame there
/// (recorded as a gap of its stream), `skip` drops 1 in k frames as the batch size manager asks.
enum DecodeStage {
    /// Reads until the source ends, fails, `maxFrames` is reached, the stream leaves or is stopped,
    /// or the queue is closed. Returns the error that ended it early, if one did.
    static func run(
        _ source: FrameSource, stream: Int, settings: DecodeSettings, into queue: FairQueue<SourceFrame>,
        drops: DropLog, manager: BatchManager?, runStart: Double, stop: StopSignal
    ) -> VideoError? {
        var count = 0
        var pacer = Pacer(realtime: settings.realtime, source: source.input)
        if let join = settings.join, join > 0 {
            stop.sleep(until: runStart + join)
            manager?.streamJoined(settings.name ?? "\(stream)")
        } else if settings.announce {
            manager?.streamJoined(settings.name ?? "\(stream)")
        }
        defer { manager?.streamLeft(settings.name ?? "\(stream)") }
        // An interval the manager chooses is on its board while the stream decodes.
        if let interval = settings.interval, interval.auto, let manager {
            manager.intervalBoard.join(interval, at: Clock.now)
        }
        defer { if let interval = settings.interval { manager?.intervalBoard.leave(interval) } }
        var motion = settings.interval?.settings.motion == true ? MotionGate(floor: TrackingSettings.motionFloor) : nil
        let leaveAt = settings.leave.map { runStart + $0 } ?? .infinity
        // A camera's reads mostly wait for its next frame: its decoding cost is the thread's CPU
        // time, or the batch size manager would take the camera's pace for a slow decoder.
        let live = source.isLive
        // Real-time streams (paced files, cameras) take their turns first; each stream waits or sheds
        // in its own lane only (`FairQueue`): a fast one never takes a slow one's share.
        let urgent = settings.realtime || live
        while settings.maxFrames.map({ count < $0 }) ?? true, Clock.now < leaveAt, !stop.isRaised {
            let t0 = live ? threadCPUSeconds() : Clock.now
            // Whether the detector runs on the next frame, decided before it is read: one it skips
            // comes without its picture (unless the annotated video needs it).
            let planned = settings.interval?.infers(frame: source.framesRead) ?? true
            let frame: VideoFrame?
            do {
                frame = try source.nextFrame(picture: planned || settings.annotated)
            } catch {
                return error
            }
            guard let frame else { return nil }
            if count == 0 { settings.interval?.started(fps: source.info?.frameRate) }
            let spent = (live ? threadCPUSeconds() : Clock.now) - t0
            pacer.wait(for: frame.pts, unless: stop)
            let item = SourceFrame(stream: stream, frame: frame, decodeSeconds: spent, arrival: Clock.now)
            count += 1
            // A frame the stream's interval, or its motion gate, leaves to the tracker goes past the
            // batcher, straight to the output (in its turn): no pre-processing, no place in a batch.
            if let interval = settings.interval, let reason = Self.skip(frame, planned, interval, &motion) {
                drops.recordTracked(
                    stream: stream, frame: frame, arrival: item.arrival, keep: settings.annotated, reason: reason)
                source.delivered()
                continue
            }
            manager?.arrivals.arrived(at: item.arrival)
            switch settings.shed {
            case .backlog:
                guard queue.push(item, urgent: urgent) else { return nil }
            case .dropOldest:
                // A full lane sheds this stream's own oldest frame. The drop is recorded under the
                // queue's lock, before anything after it can come out.
                let accepted = queue.pushEvictingOldest(item, urgent: urgent) { old in
                    drops.record(stream: old.stream, index: old.frame.index, pts: old.frame.pts, reason: "drop-oldest")
                }
                guard accepted else { return nil }
            case .skip:
                let k = manager?.skipEvery ?? 0
                if k > 1 && count % k == 0 {
                    drops.record(stream: stream, index: frame.index, pts: frame.pts, reason: "skip")
                    continue
                }
                guard queue.push(item, urgent: urgent) else { return nil }
            }
            source.delivered()
        }
        if stop.isRaised { source.stop() }
        return nil
    }

    /// Why the detector skips `frame`, if it does: the interval (`planned` false: decided before
    /// the frame was read), then a still scene. Counts the frame for the stream's rate.
    static func skip(_ frame: VideoFrame, _ planned: Bool, _ interval: StreamInterval, _ motion: inout MotionGate?)
        -> SkipReason?
    {
        interval.decoded(pts: frame.pts)
        guard planned else { return .interval }
        guard motion != nil, frame.hasPicture else { return nil }
        let detect = frame.pixels.withUnsafeBufferPointer {
            motion!.shouldDetect(rgb: $0, width: frame.width, height: frame.height, time: frame.pts)
        }
        interval.noteStill(motion!.still)
        return detect ? nil : .motion
    }
}

/// CPU seconds the calling thread has used.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Paces a file at its native rate (`--realtime`); live URLs pace themselves.
struct Pacer {
    let enabled: Bool
    private var start = 0.0
    private var origin: Double?

    init(realtime: Bool, source: String) { enabled = realtime && !source.contains("://") }

    /// Sleeps until the frame at `pts` is due, or until `stop` is raised.
    mutating func wait(for pts: Double, unless stop: StopSignal) {
        guard enabled else { return }
        if origin == nil {
            origin = pts
            start = Clock.now
        }
        let due = start + (pts - origin!)
        stop.sleep(until: due)
    }
}
