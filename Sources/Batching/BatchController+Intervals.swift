extension BatchController {
    /// What one look decided for both knobs: the decisions to keep, in order (interval changes
    /// first, then the batch size's), and the interval changes to apply.
    public struct Look: Sendable, Equatable {
        /// Every decision made, as the decisions keep them (an interval change keeps the batch size).
        public var decisions: [BatchDecision] = []
        /// The interval changes among them, to apply to the streams.
        public var intervals: [IntervalChange] = []
        /// The batch size decision among them, if any.
        public var batch: BatchDecision?
    }

    /// Decides both knobs at a look. The inference intervals of `streams` (those that let the
    /// manager choose, `infer_every: auto`) come first: falling behind is theirs to answer while
    /// any of them can still grow, and the batch size's overload (shedding) waits; a size on trial
    /// is judged first, and an early look (a trial's) is the batch size's alone. Then the batch
    /// size, as `decide(_:)` does, but for its moves for throughput, which wait a dwell after an
    /// interval changed (and intervals are not shortened for a dwell after the batch size changed):
    /// one knob at a time. With no such streams, exactly `decide(_:)`.
    public mutating func decide(_ load: LoadSnapshot, streams: [IntervalStream], early: Bool = false) -> Look {
        var look = Look()
        if !streams.isEmpty && !early && !phase.onTrial && config.policy != .fixed {
            let behind = fallingBehind(load)
            let changes = intervals.decide(
                streams, load, behind: behind, batch: batch, predicted: predictedThroughput(load))
            look.intervals = changes
            look.decisions = changes.map { change in
                BatchDecision(
                    time: load.time, from: batch, to: batch, why: change.why, arrivalRate: load.arrivalRate,
                    latencyP99: load.latencyP99, overloaded: overloaded,
                    requests: config.maxRequests > 1 ? requests : nil)
            }
            if !changes.isEmpty || intervals.holds(streams, behind: behind) { return look }
            // One knob at a time: no move for throughput while the load the intervals last made
            // settles (a batch size tried on top of an interval just shortened can fill the queues).
            quietUntil = intervals.lastChange + intervals.config.dwell
        }
        if let d = decide(load) {
            look.batch = d
            look.decisions.append(d)
        }
        return look
    }
}
