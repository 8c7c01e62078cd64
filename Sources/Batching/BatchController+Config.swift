/// How the batch size is chosen.
public enum BatchPolicy: String, Sendable, Codable, CaseIterable {
    /// B as given, never changed.
    case fixed
    /// The paper's: among sizes whose bottleneck keeps up with arrivals (with a margin) and whose memory
    /// fits, the highest throughput; the smallest when throughputs tie, to keep latency low.
    case realtime
    /// The highest throughput whose p99 frame latency (batching wait included) stays within the SLO.
    case slo
    /// Clipper's additive increase, multiplicative decrease against the latency target (a baseline).
    case aimd
}

/// What happens to frames when no batch size keeps up.
public enum ShedPolicy: String, Sendable, Codable, CaseIterable {
    /// Drop the oldest waiting frame to make room for the newest (live cameras).
    case dropOldest = "drop-oldest"
    /// Skip every k-th frame of each stream, k chosen from the overload.
    case skip
    /// Drop nothing: frames wait (files processed offline).
    case backlog
}

extension BatchController {
    /// Settings.
    public struct Config: Sendable, Equatable {
        /// The policy.
        public var policy: BatchPolicy = .realtime
        /// Batch sizes the controller may choose.
        public var sizes: [Int] = [1, 2, 4, 8, 16]
        /// Keep-up margin for predictions: a size not yet run is expected to keep up when its batch
        /// is predicted to finish within `margin * B / arrival rate`.
        public var margin = 0.85
        /// Throughputs within this fraction count as tied (the smaller B wins): real timings jitter by
        /// a few percent, and a smaller batch waits less.
        public var tie = 0.05
        /// A move must promise this much more throughput (hysteresis).
        public var gain = 0.10
        /// Seconds to hold a size before an ordinary change (not for a missed deadline).
        public var dwell = 2.0
        /// p99 latency target, seconds (slo, aimd).
        public var latencySLO: Double = 0.5
        /// AIMD decrease factor.
        public var aimdDecrease = 0.9
        /// Stages and how many run at once (pre-processing workers, requests in flight).
        public var parallelism: [Stage: Double] = [:]
        /// What to do when nothing keeps up.
        public var shed: ShedPolicy = .dropOldest
        /// Inference requests in flight it may choose from (1...this); 0 leaves them alone. Probed
        /// upward only while overloaded, kept only where the measured output rate rises with them.
        public var maxRequests = 0
        /// A size being tried is judged after this many batches there...
        public var probeLook = 3
        /// ...and this many seconds (a few batches of a fast model are mostly noise)...
        public var probeSeconds = 0.25
        /// ...and ended at once when it promises (by its stage costs) or puts out (under overload)
        /// this fraction less than the size it left.
        public var plainlyWorse = 0.15
        /// Seconds a size found slower is remembered (neither tried nor chosen again).
        public var forget = 300.0
        /// Light load: while the arrivals take at most this share of what the current size's stage
        /// costs give, no move is made, nor a size probed, for throughput (a larger batch would only
        /// wait longer to fill, and a probe cost more than it can win back); the size steps down to
        /// the smallest measured one with that much room. Under the slo policy too.
        public var light = 0.5

        /// Default settings.
        public init() {}
    }
}
