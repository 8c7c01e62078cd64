import Batching
import Synchronization

/// The streams whose inference intervals the batch size manager chooses (`infer_every: auto`),
/// with each one's decoding rate measured between looks. Streams join when their decoding starts
/// and leave when it ends; bounded by the streams attached.
final class IntervalBoard: Sendable {
    private struct Entry {
        let interval: StreamInterval
        var frames: Int
        var time: Double
        var pts: Double
        var fps: Double?
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// A stream whose interval the manager chooses starts decoding.
    func join(_ interval: StreamInterval, at time: Double) {
        entries.withLock {
            $0[interval.id] = Entry(
                interval: interval, frames: interval.decodedFrames, time: time, pts: interval.latestPts)
        }
    }

    /// It stopped decoding.
    func leave(_ interval: StreamInterval) {
        entries.withLock { all in
            if all[interval.id]?.interval === interval { all.removeValue(forKey: interval.id) }
        }
    }

    /// Whether any stream lets the manager choose its interval.
    var isEmpty: Bool { entries.withLock { $0.isEmpty } }

    /// The streams as the controller sees them at `time`: each one's frame rate since the last look
    /// (smoothed; by its own clock, the frames' pts, so that a burst of decoding at the start is
    /// not taken for its rate; by the wall clock where the pts went back, a file that looped), its
    /// interval, the longest it may have, and its steadiness.
    func streams(at time: Double) -> [IntervalStream] {
        entries.withLock { all in
            var out: [IntervalStream] = []
            out.reserveCapacity(all.count)
            for (id, var e) in all {
                let frames = e.interval.decodedFrames
                let pts = e.interval.latestPts
                if time - e.time >= 0.5 {
                    let span = pts - e.pts
                    let rate = Double(frames - e.frames) / (span > 0.1 && span.isFinite ? span : time - e.time)
                    e.fps = e.fps.map { 0.5 * $0 + 0.5 * rate } ?? rate
                    e.frames = frames
                    e.time = time
                    e.pts = pts
                    all[id] = e
                }
                let fps = e.fps ?? 0
                out.append(
                    IntervalStream(
                        id: id, interval: e.interval.interval, maxInterval: IntervalController.maxInterval(fps: fps),
                        fps: fps, stability: e.interval.stability))
            }
            return out.sorted { $0.id < $1.id }
        }
    }

    /// Sets the intervals decided.
    func apply(_ changes: [IntervalChange]) {
        let targets = entries.withLock { all in changes.compactMap { c in all[c.stream].map { ($0.interval, c.to) } } }
        for (interval, n) in targets { interval.set(n) }
    }
}
