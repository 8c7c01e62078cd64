import Synchronization

/// Counts frame arrivals (all streams) and gives the recent rate.
final class ArrivalMeter: Sendable {
    /// Arrival times from `head` on fall within the window; older ones are dropped in bulk, not one
    /// by one, so that an arrival costs O(1) however fast frames come.
    private struct Times {
        var first: Double?
        var times: [Double] = []
        var head = 0
    }

    private let state = Mutex(Times())
    let window: Double

    init(window: Double = 2) { self.window = window }

    func arrived(at t: Double) {
        state.withLock { s in
            if s.first == nil { s.first = t }
            s.times.append(t)
            while s.head < s.times.count && s.times[s.head] <= t - window { s.head += 1 }
            if s.head > 1024 && s.head * 2 > s.times.count {
                s.times.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// Frames per second over the last `window` seconds; nil until a second of arrivals is seen.
    func rate(now: Double) -> Double? {
        state.withLock { s in
            guard let first = s.first, now - first >= 1 else { return nil }
            let span = min(window, now - first)
            return Double(s.times[s.head...].filter { $0 > now - span }.count) / span
        }
    }
}
