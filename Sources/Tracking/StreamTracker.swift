import Vision

/// One tracked stream: its tracker, fed every frame in order (the detections of a frame the detector
/// ran on, the time of one it skipped), the stream's clock for it, and what each frame reports. What
/// the pipeline's output stage keeps per tracked stream, and what `TrackerBench replay` runs on
/// recorded detections. A value: no I/O, no clock, no locks.
public struct StreamTracker: Sendable {
    public private(set) var tracker: Tracker
    /// The stream's time in seconds as the tracker sees it: the frame's pts, plus what earlier
    /// loops of a file added (a looping file starts its pts again; motion must not).
    private var offset = 0.0
    private var last: Double?
    private var step = 0.04
    /// Confirmed tracks the last detected frame reported.
    private var visible = 0
    /// How steady its tracks were over the last detected frames, 0...1 (an average that forgets).
    public private(set) var steadiness = 1.0
    /// What the last detected frame reported outside any confirmed track (scores from the model's
    /// threshold up, too weak to start a track or only just found), and its time: the frames the
    /// detector skips after it report them where they were, for at most `holdUntracked` seconds.
    private var untracked: [Detection] = []
    private var untrackedAt = 0.0

    /// Seconds an untracked detection is still reported on skipped frames: past it, an object with
    /// no track to move it is more likely to have moved away than to stand where it was. One
    /// second: a still scene left to the tracker by motion gating is detected once a second.
    public static let holdUntracked = 1.0

    /// The stream's running time (seconds) of the last frame fed, the clock its tracks move on: a
    /// looping file's time runs on. Nil before the first frame.
    public var now: Double? { last }

    /// Tracking for a stream with `config`, with no track yet.
    public init(config: TrackerConfig) {
        tracker = Tracker(config: config)
    }

    /// The score the detector is asked for on this stream, whose model reports detections from
    /// `reportThreshold`: the tracker's low threshold (weak detections continue tracks, never
    /// start one), or the model's when that is lower.
    public func decodeThreshold(reporting reportThreshold: Float) -> Float {
        min(tracker.config.lowScore, reportThreshold)
    }

    /// A frame the detector ran on, with what it found down to `decodeThreshold`: what the frame
    /// reports, in the detector's order: the detections in confirmed tracks, with their ids, and
    /// those scoring at least `reportThreshold` (the model's own) that are in none (yet).
    public mutating func inferred(_ found: [Detection], pts: Double, reportThreshold: Float) -> [Detection] {
        let confirmedBefore = tracker.stats.confirmed
        let now = time(pts)
        let tracked = tracker.update(detections: found, at: now)
        noteSteadiness(reported: tracked.count, born: Int(tracker.stats.confirmed - confirmedBefore))
        var out: [Detection] = []
        out.reserveCapacity(found.count)
        untracked.removeAll(keepingCapacity: true)
        untrackedAt = now
        var next = 0
        for detection in found {
            if next < tracked.count, tracked[next].detection == detection {
                var d = detection
                d.track = tracked[next].track
                out.append(d)
                next += 1
            } else if detection.score >= reportThreshold {
                out.append(detection)
                untracked.append(detection)
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
    /// ids and last detected scores; then, within `holdUntracked` seconds of the last detected
    /// frame, what it reported outside any track, where it was (no id).
    ///
    /// Without the held detections, an object the detector reports but no track follows (a score
    /// between the model's threshold and a new track's) would blink: there on every detected frame,
    /// gone on the frames between. On the tracking ground truth (`bench/tracking.sh`, N = 3) they
    /// were 116 of the 256 boxes every-frame tracking reported that skipped frames missed.
    public mutating func skipped(pts: Double) -> [Detection] {
        let now = time(pts)
        var out = tracker.predict(at: now).map { object in
            var d = object.detection
            d.track = object.track
            return d
        }
        if now - untrackedAt <= Self.holdUntracked { out += untracked }
        return out
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
