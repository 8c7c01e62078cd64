import Tracking
import Vision

/// How a stream is tracked (`run --track --infer-every N|auto --motion`, a service stream's
/// `track: true`, `infer_every: N|auto`, `motion: true`).
public struct TrackingSettings: Sendable, Equatable {
    /// The detector runs on every `inferEvery`-th frame (1: every frame); the tracker answers the
    /// others. 1...300. With `auto`, 1: the first frame goes to the detector, then the interval
    /// starts at its longest (`StreamInterval.started`) and the manager opens it up.
    public var inferEvery: Int
    /// The batch size manager chooses the interval from the load (`infer_every: auto`): longer
    /// before it sheds frames, back to 1 as the load falls.
    public var auto: Bool
    /// Motion gating: a frame whose scene has not changed since the detector last ran is left to
    /// the tracker, down to one detection per `motionFloor` seconds.
    public var motion: Bool
    /// The tracker's settings.
    public var tracker: TrackerConfig

    /// The largest interval accepted: 30 s of a 10 fps camera, and in any case bounded by the
    /// tracker's retention (a track unseen for longer is dropped).
    public static let maxInterval = 300
    /// A still scene is detected at least this often, seconds (motion gating).
    public static let motionFloor = 1.0

    /// Tracking with the detector on every `inferEvery`-th frame (or as the manager chooses, with
    /// `auto`), with `tracker`'s settings or, by default, the tracker's own but for one: when the
    /// detector may skip frames, a detection strong enough to start a track (0.7) confirms it at
    /// once. Confirming after 3 hits would leave a new object unanswered for 3 intervals (9 frames
    /// at N = 3); measured on the tracking ground truth (`bench/tracking.sh`), at N = 3 it raises
    /// the box F1 of the frames the detector skipped from 0.86 to 0.89 for the same IDF1.
    public init(inferEvery: Int = 1, auto: Bool = false, motion: Bool = false, tracker: TrackerConfig? = nil) {
        self.inferEvery = auto ? 1 : inferEvery
        self.auto = auto
        self.motion = motion
        let skips = inferEvery > 1 || auto || motion
        self.tracker = tracker ?? TrackerConfig(hitsToConfirm: skips ? 1 : 3)
    }
}

/// One tracked stream at the output, on the output thread: its tracker, fed every frame in order
/// (the detections of a frame the detector ran on, the time of one it skipped), and the stream's
/// clock for it.
struct StreamTracking {
    private(set) var tracker: Tracker
    /// The stream's time in seconds as the tracker sees it: the frame's pts, plus what earlier
    /// loops of a file added (a looping file starts its pts again; motion must not).
    private var offset = 0.0
    private var last: Double?
    private var step = 0.04
    /// Confirmed tracks the last detected frame reported.
    private var visible = 0
    /// How steady its tracks were over the last detected frames, 0...1 (an average that forgets).
    private(set) var steadiness = 1.0

    /// Tracking for a stream, with no track yet.
    init(settings: TrackingSettings) {
        tracker = Tracker(config: settings.tracker)
    }

    /// The score the detector is asked for on this stream, whose model reports detections from
    /// `reportThreshold`: the tracker's low threshold (weak detections continue tracks, never
    /// start one), or the model's when that is lower.
    func decodeThreshold(reporting reportThreshold: Float) -> Float {
        min(tracker.config.lowScore, reportThreshold)
    }

    /// A frame the detector ran on, with what it found down to `decodeThreshold`: what the frame
    /// reports, in the detector's order: the detections in confirmed tracks, with their ids, and
    /// those scoring at least `reportThreshold` (the model's own) that are in none (yet).
    mutating func inferred(_ found: [Detection], pts: Double, reportThreshold: Float) -> [Detection] {
        let confirmedBefore = tracker.stats.confirmed
        let tracked = tracker.update(detections: found, at: time(pts))
        noteSteadiness(reported: tracked.count, born: Int(tracker.stats.confirmed - confirmedBefore))
        var out: [Detection] = []
        out.reserveCapacity(found.count)
        var next = 0
        for detection in found {
            if next < tracked.count, tracked[next].detection == detection {
                var d = detection
                d.track = tracked[next].track
                out.append(d)
                next += 1
            } else if detection.score >= reportThreshold {
                out.append(detection)
            }
        }
        return out
    }

    /// Tracks that went on against those born and lost at a detected frame: 1 when nothing changed.
    private mutating func noteSteadiness(reported: Int, born: Int) {
        let continuing = max(0, reported - born)
        let lost = max(0, visible - continuing)
        let total = continuing + born + lost
        let now = total == 0 ? 1 : Double(continuing) / Double(total)
        steadiness = 0.8 * steadiness + 0.2 * now
        visible = reported
    }

    /// A frame the detector skipped: the confirmed tracks' boxes predicted at its time, with their
    /// ids and last detected scores.
    mutating func skipped(pts: Double) -> [Detection] {
        tracker.predict(at: time(pts)).map { object in
            var d = object.detection
            d.track = object.track
            return d
        }
    }

    /// `pts` on the stream's running clock: a pts earlier than the last (a file that loops) starts
    /// a new stretch one frame step after the last time.
    private mutating func time(_ pts: Double) -> Double {
        guard pts.isFinite else { return last ?? 0 }
        if let last {
            let t = pts + offset
            if t < last {
                offset = last + step - pts
            } else if t > last {
                step = min(t - last, 1)
            }
        }
        let t = pts + offset
        last = t
        return t
    }
}
