import Foundation

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

/// What the pipeline measured since the last decision.
public struct LoadSnapshot: Sendable, Equatable {
    /// Seconds on the pipeline's clock.
    public var time: Double
    /// Frames arriving per second, all streams together.
    public var arrivalRate: Double
    /// Frames finished per second since the previous snapshot: the capacity itself while overloaded.
    public var outputRate: Double?
    /// p99 seconds from a frame's arrival to its result, over the recent window; nil before any.
    public var latencyP99: Double?
    /// Frames waiting in the pipeline's queues.
    public var queueDepth: Int
    /// How many frames those queues hold at most; with the depth, whether the pipeline is saturated.
    public var queueCapacity: Int?

    /// Queues three-quarters full or more: whatever the stage model says, the pipeline is not keeping up
    /// (a file run as fast as it goes is always here: its arrivals wait for the pipeline).
    public var saturated: Bool { queueCapacity.map { $0 > 0 && queueDepth * 4 >= $0 * 3 } ?? false }
    /// Bytes that may still be used before the memory limit; nil when unlimited.
    public var memoryHeadroom: Int?
    /// Memory in use now, bytes.
    public var memoryInUse: Int?
    /// Streams feeding the pipeline.
    public var streams: Int

    /// Creates a snapshot.
    public init(
        time: Double, arrivalRate: Double, outputRate: Double? = nil, latencyP99: Double? = nil, queueDepth: Int = 0,
        memoryHeadroom: Int? = nil, memoryInUse: Int? = nil, streams: Int = 1, queueCapacity: Int? = nil
    ) {
        self.queueCapacity = queueCapacity
        self.time = time
        self.arrivalRate = arrivalRate
        self.outputRate = outputRate
        self.latencyP99 = latencyP99
        self.queueDepth = queueDepth
        self.memoryHeadroom = memoryHeadroom
        self.memoryInUse = memoryInUse
        self.streams = streams
    }
}

/// One change of batch size (or of overload state), with the reason and the figures behind it.
public struct BatchDecision: Sendable, Codable, Equatable {
    /// When (the snapshot's time).
    public var time: Double
    /// Batch size before.
    public var from: Int
    /// Batch size after.
    public var to: Int
    /// Why, in words.
    public var reason: String
    /// The slowest stage at the new size, as predicted.
    public var bottleneck: String?
    /// Predicted seconds per batch of that stage at the new size.
    public var bottleneckSeconds: Double?
    /// Predicted frames per second at the new size.
    public var predictedThroughput: Double?
    /// The deadline per batch at the new size: B / arrival rate.
    public var deadlineSeconds: Double?
    /// Arrival rate, frames/s.
    public var arrivalRate: Double
    /// p99 latency measured, seconds.
    public var latencyP99: Double?
    /// Whether frames must be shed because no size keeps up.
    public var overloaded: Bool
    /// Frames of each stream to skip (1 in `skipEvery`) under the `skip` policy; nil when not skipping.
    public var skipEvery: Int?
    /// Inference requests in flight after the decision, when the controller manages them.
    public var requests: Int?

    /// Creates a decision.
    public init(
        time: Double, from: Int, to: Int, reason: String, bottleneck: String? = nil, bottleneckSeconds: Double? = nil,
        predictedThroughput: Double? = nil, deadlineSeconds: Double? = nil, arrivalRate: Double,
        latencyP99: Double? = nil, overloaded: Bool, skipEvery: Int? = nil, requests: Int? = nil
    ) {
        self.time = time
        self.from = from
        self.to = to
        self.reason = reason
        self.bottleneck = bottleneck
        self.bottleneckSeconds = bottleneckSeconds
        self.predictedThroughput = predictedThroughput
        self.deadlineSeconds = deadlineSeconds
        self.arrivalRate = arrivalRate
        self.latencyP99 = latencyP99
        self.overloaded = overloaded
        self.skipEvery = skipEvery
        self.requests = requests
    }

    enum CodingKeys: String, CodingKey {
        case time, from, to, reason, bottleneck, overloaded
        case bottleneckSeconds = "bottleneck_s"
        case predictedThroughput = "predicted_fps"
        case deadlineSeconds = "deadline_s"
        case arrivalRate = "arrival_fps"
        case latencyP99 = "latency_p99_s"
        case skipEvery = "skip_every"
        case requests
    }
}

/// Chooses the batch size online from measured stage costs, arrivals, latency and memory, and says why.
///
/// A value type with no I/O: feed it `observe` after each batch and ask `decide` now and then.
public struct BatchController: Sendable {
    /// Settings.
    public struct Config: Sendable, Equatable {
        /// The policy.
        public var policy: BatchPolicy = .realtime
        /// Batch sizes the controller may choose.
        public var sizes: [Int] = [1, 2, 4, 8, 16]
        /// Keep-up margin: a batch must finish within `margin * B / arrival rate`.
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
        public var parallelism: [String: Double] = [:]
        /// What to do when nothing keeps up.
        public var shed: ShedPolicy = .dropOldest
        /// Inference requests in flight it may choose from (1...this); 0 leaves them alone. Probed
        /// upward only while overloaded, kept only where the measured output rate rises with them.
        public var maxRequests = 0

        /// Default settings.
        public init() {}
    }

    /// Settings.
    public var config: Config
    /// The current batch size.
    public private(set) var batch: Int
    /// What it has learned.
    public private(set) var cost = CostModel()
    /// Whether it is shedding frames now.
    public private(set) var overloaded = false
    /// Inference requests in flight now (meaningful when `config.maxRequests` > 0).
    public private(set) var requests: Int
    /// Frames per second finished while overloaded at the current batch size, by requests in flight.
    public private(set) var requestCapacity: [Int: CostModel.Sample] = [:]
    private var probedRequests: Set<Int> = []
    private var lastChange = -Double.infinity
    private var probed: Set<Int> = []
    /// Frames per second finished at each size while overloaded: measured capacity, which beats the
    /// stage model where stages share the same cores.
    public private(set) var capacity: [Int: CostModel.Sample] = [:]

    /// Starts at `initial` (clamped to the allowed sizes) with `requests` in flight.
    public init(config: Config = Config(), initial: Int = 1, requests: Int = 1) {
        precondition(!config.sizes.isEmpty, "the controller needs sizes to choose from")
        self.config = config
        self.requests = requests
        self.config.sizes = config.sizes.sorted()
        batch = config.sizes.contains(initial) ? initial : config.sizes.sorted().first!
    }

    /// Records one finished batch: seconds it took in each stage.
    public mutating func observe(batch size: Int, stageSeconds: [String: Double], memoryBytes: Int? = nil) {
        for (stage, seconds) in stageSeconds { cost.observe(stage: stage, batch: size, seconds: seconds) }
        if let memoryBytes { cost.observe(memoryBytes: memoryBytes, batch: size) }
    }

    /// Forgets costs: the model changed (a swap), so every stage must be measured again.
    public mutating func modelChanged() {
        cost.reset()
        probed = []
        capacity = [:]
        requestCapacity = [:]
        probedRequests = []
    }

    /// Decides, and returns a decision when the batch size or the overload state changes.
    public mutating func decide(_ load: LoadSnapshot) -> BatchDecision? {
        // Saturated, or falling behind, the output rate is the capacity at this size (once the size has
        // settled in); an output rate that matches arrivals says only that this size keeps up.
        if overloaded, let rate = load.outputRate, rate > 0, load.time - lastChange >= 1,
            load.saturated || rate < load.arrivalRate * 0.98
        {
            capacity[batch] = .adding(rate, to: capacity[batch], smoothing: 0.3)
            requestCapacity[requests] = .adding(rate, to: requestCapacity[requests], smoothing: 0.3)
        }
        switch config.policy {
        case .fixed: return nil
        case .aimd: return decideAIMD(load)
        case .realtime, .slo: return decideModel(load) ?? tuneRequests(load)
        }
    }

    // MARK: requests in flight

    /// Overloaded and settled at one batch size: tries one more request in flight, and goes back
    /// when it did not raise the measured output rate by more than a tie. Where requests overlap
    /// (a GPU copying one batch while computing another) more in flight pays; on a CPU whose
    /// streams are all busy it does not, and the controller measures which.
    mutating func tuneRequests(_ load: LoadSnapshot) -> BatchDecision? {
        guard config.maxRequests > 1, overloaded, load.time - lastChange >= config.dwell,
            let here = requestCapacity[requests], here.count >= 2
        else { return nil }
        let fmt = { (v: Double) in String(format: "%.1f", v) }
        if let below = requestCapacity[requests - 1], probedRequests.contains(requests),
            here.value <= below.value * (1 + config.tie)
        {
            let to = requests - 1
            return recordRequests(
                load, to: to,
                "\(requests) requests in flight gave \(fmt(here.value)) frames/s, no more than \(to)'s "
                    + "\(fmt(below.value)): back to \(to)")
        }
        guard requests < config.maxRequests, !probedRequests.contains(requests + 1) else { return nil }
        probedRequests.insert(requests + 1)
        return recordRequests(
            load, to: requests + 1,
            "overload at B=\(batch): probing \(requests + 1) requests in flight (\(requests) give "
                + "\(fmt(here.value)) frames/s)")
    }

    mutating func recordRequests(_ load: LoadSnapshot, to count: Int, _ why: String) -> BatchDecision {
        // `parallelism["infer"]` stays: batches beyond the device's streams queue for them, and the
        // seconds measured per batch already include that wait.
        requests = count
        return record(load, to: batch, candidate(batch, load), why)
    }

    // MARK: realtime and slo

    /// Figures for one candidate size.
    struct Candidate {
        var size: Int
        var bottleneck: (stage: String, seconds: Double)?
        var throughput: Double?
        var keepsUp: Bool
        var fits: Bool
        var withinSLO: Bool
        var feasible: Bool { keepsUp && fits && withinSLO }
    }

    func candidate(_ size: Int, _ load: LoadSnapshot) -> Candidate {
        let b = cost.bottleneck(batch: size, parallelism: config.parallelism)
        let rate = max(load.arrivalRate, 1e-9)
        let deadline = Double(size) / rate
        let keepsUp = b.map { $0.seconds <= config.margin * deadline } ?? false
        var fits = true
        if let headroom = load.memoryHeadroom, let now = load.memoryInUse,
            let here = cost.predictMemory(batch: batch), let there = cost.predictMemory(batch: size)
        {
            fits = Double(now) + (there - here) <= Double(now + headroom) * 0.95
        }
        var withinSLO = true
        if config.policy == .slo {
            // A frame waits for its batch to fill, then crosses every stage once.
            let wait = Double(size - 1) / rate
            withinSLO = cost.traversal(batch: size).map { wait + $0 <= config.latencySLO } ?? false
        }
        return Candidate(
            size: size, bottleneck: b, throughput: b.map { Double(size) / $0.seconds }, keepsUp: keepsUp, fits: fits,
            withinSLO: withinSLO)
    }

    mutating func decideModel(_ load: LoadSnapshot) -> BatchDecision? {
        guard load.arrivalRate > 0 else { return nil }
        let all = config.sizes.map { candidate($0, load) }
        let current = candidate(batch, load)
        let known = all.filter { $0.throughput != nil }
        guard current.throughput != nil else { return nil }  // nothing measured at the current size yet

        // The deadline is being missed (measured, not predicted), or the SLO: act now, no dwell.
        var missed = false
        if let b = current.bottleneck, b.seconds > Double(batch) / load.arrivalRate { missed = true }
        if config.policy == .slo, let p99 = load.latencyP99, p99 > config.latencySLO { missed = true }

        if load.saturated && config.policy == .realtime { return decideOverload(load, known: known) }
        let feasible = known.filter(\.feasible)
        if let best = pickBest(feasible) {
            if best.size == batch {
                if overloaded {
                    // Out of overload only after a dwell: at capacity the queues fill and drain by turns,
                    // and the state would flap with them.
                    guard load.time - lastChange >= config.dwell else {
                        return nil
                    }
                    overloaded = false
                    return record(load, to: batch, best, "load fell: B=\(batch) keeps up again")
                }
                return probe(load, current: current) ?? probeDown(load, current: current)
            }
            let urgent = missed || !current.feasible
            // In a hurry, only a size measured to keep up is safe; with none, this is overload.
            let safe = pickBest(feasible.filter { cost.measuredSizes.contains($0.size) })
            if urgent && safe == nil { return decideOverload(load, known: known) }
            let better = (best.throughput ?? 0) > (current.throughput ?? 0) * (1 + config.gain)
            // A tie with a smaller size: take the smaller one, for latency.
            let smallerTie = best.size < batch && (best.throughput ?? 0) >= (current.throughput ?? 0) * (1 - config.tie)
            guard urgent || ((better || smallerTie) && load.time - lastChange >= config.dwell) else { return nil }
            // An unmeasured size is approached one step at a time.
            let target = urgent ? safe!.size : stepToward(best.size)
            let chosen = candidate(target, load)
            let why: String
            if missed {
                why = "deadline missed at B=\(batch): drop to B=\(target)"
            } else if !current.feasible {
                why = "B=\(batch) no longer fits (\(violation(current))): B=\(target)"
            } else if smallerTie && !better {
                why = "B=\(target): same throughput as B=\(batch), lower latency"
            } else {
                why =
                    config.policy == .slo
                    ? "B=\(target): highest throughput within the \(ms(config.latencySLO)) p99 SLO"
                    : "B=\(target): highest throughput that keeps up"
            }
            overloaded = false
            return record(load, to: target, chosen, why + explain(chosen, load))
        }

        return decideOverload(load, known: known)
    }

    /// No size keeps up: probe larger sizes while they promise more, then run the one with the most
    /// throughput and shed the rest.
    mutating func decideOverload(_ load: LoadSnapshot, known: [Candidate]) -> BatchDecision? {
        // Nothing keeps up. A larger size never measured may: try it first, one step at a time, as long
        // as the sizes measured do not already say that larger batches lose throughput.
        let measured = cost.measuredSizes
        let bestKnown = known.filter { measured.contains($0.size) }.compactMap(\.throughput).max() ?? 0
        if let hi = cost.measuredSizes.max(), let next = config.sizes.first(where: { $0 > hi }),
            !probed.contains(next), candidate(next, load).fits,
            // Measure before moving: the current size's capacity first (or a full dwell in which it
            // was not seen to fall behind), so that the next step can be judged against it.
            load.time - lastChange >= (capacity[batch] != nil ? config.dwell / 2 : config.dwell),
            lastStepPaid(hi)
                ?? (measured.count < 2
                    || (candidate(next, load).throughput ?? 0)
                        > (candidate(hi, load).throughput ?? .infinity) * (1 + config.tie))
        {
            probed.insert(next)
            overloaded = true
            var decision = record(
                load, to: next, candidate(next, load),
                "overload: nothing measured keeps up with \(String(format: "%.1f", load.arrivalRate)) frames/s; "
                    + "probing B=\(next)")
            if config.shed == .skip, bestKnown > 0 {
                decision.skipEvery = Self.skipEvery(arrival: load.arrivalRate, capacity: bestKnown * config.margin)
            }
            return decision
        }
        // Run at the highest throughput that fits and shed the rest: measured capacity where there is
        // one (what actually came out), else the stage model.
        let fitting = known.filter { $0.fits }
        let observed = fitting.filter { capacity[$0.size] != nil }
        func score(_ c: Candidate) -> Double { capacity[c.size]?.value ?? c.throughput ?? 0 }
        let pool = observed.count >= 2 ? observed : fitting
        guard let top = pool.max(by: { score($0) < score($1) }) else { return nil }
        // A size known only from the line is approached one step at a time, as in probing.
        let best = candidate(stepToward(top.size), load)
        let changed = best.size != batch || !overloaded
        guard changed else { return nil }
        if overloaded {
            // Already shedding: the same hysteresis as anywhere else.
            let here = candidate(batch, load)
            guard score(best) > score(here) * (1 + config.gain), load.time - lastChange >= config.dwell else {
                return nil
            }
        }
        overloaded = true
        var decision = record(
            load, to: best.size, best,
            "overload: no batch size keeps up with \(String(format: "%.1f", load.arrivalRate)) frames/s; "
                + "B=\(best.size) has the most throughput, shedding by \(config.shed.rawValue)" + explain(best, load))
        if config.shed == .skip, let thr = best.throughput, thr > 0 {
            decision.skipEvery = Self.skipEvery(arrival: load.arrivalRate, capacity: thr * config.margin)
        }
        return decision
    }

    /// Whether the measured capacity rose (by more than a tie) from the size below `hi` to `hi`: the
    /// last step up paid, so the next may too. Nil until both were measured saturated.
    func lastStepPaid(_ hi: Int) -> Bool? {
        guard let top = capacity[hi]?.value, let below = capacity.keys.filter({ $0 < hi }).max(),
            let under = capacity[below]?.value
        else { return nil }
        return top > under * (1 + config.tie)
    }

    /// The best of `candidates`: highest throughput, the smallest size among near-ties.
    func pickBest(_ candidates: [Candidate]) -> Candidate? {
        guard let top = candidates.compactMap(\.throughput).max() else { return nil }
        return candidates.filter { ($0.throughput ?? 0) >= top * (1 - config.tie) }.min { $0.size < $1.size }
    }

    /// Tries the next size up when it was never measured and the current one keeps up: a batch costs
    /// at most in proportion to its size, so the next one keeps up too, and it may have more throughput.
    /// Each size is probed once; what it measured decides from then on.
    mutating func probe(_ load: LoadSnapshot, current: Candidate) -> BatchDecision? {
        guard load.time - lastChange >= config.dwell, current.feasible, let b = current.bottleneck,
            let next = config.sizes.first(where: { $0 > batch }),
            cost.predict(stage: b.stage, batch: next) == nil
                || !cost.measuredSizes.contains(next),
            !probed.contains(next)
        else { return nil }
        if config.policy == .slo, let p99 = load.latencyP99,
            p99 + Double(next - batch) / load.arrivalRate > config.latencySLO
        {
            return nil
        }
        // Memory measured at two sizes predicts the next: a probe that would not fit is not tried.
        guard candidate(next, load).fits else { return nil }
        probed.insert(next)
        return record(
            load, to: next, candidate(next, load), "probing B=\(next): never measured, and B=\(batch) keeps up")
    }

    /// Tries the next size down when it was never measured (after a swap, the costs start from one
    /// size): smaller batches wait less, and what it measures tells whether it keeps up.
    mutating func probeDown(_ load: LoadSnapshot, current: Candidate) -> BatchDecision? {
        guard load.time - lastChange >= config.dwell, current.feasible,
            let next = config.sizes.last(where: { $0 < batch }), !cost.measuredSizes.contains(next),
            cost.measuredSizes.count < 2, !probed.contains(next)
        else { return nil }
        probed.insert(next)
        return record(
            load, to: next, candidate(next, load),
            "probing B=\(next): never measured; a smaller batch waits less")
    }

    /// One allowed size beyond the largest (or below the smallest) measured size at most.
    func stepToward(_ target: Int) -> Int {
        let measured = cost.measuredSizes
        guard let hi = measured.max(), let lo = measured.min() else { return target }
        if target > hi { return config.sizes.first { $0 > hi } ?? target }
        if target < lo { return config.sizes.last { $0 < lo } ?? target }
        return target
    }

    /// ` (bottleneck inference 0.107 s per batch, deadline 0.113 s, 75 frames/s)`.
    func explain(_ c: Candidate, _ load: LoadSnapshot) -> String {
        guard let b = c.bottleneck, let thr = c.throughput else { return "" }
        let deadline = config.margin * Double(c.size) / max(load.arrivalRate, 1e-9)
        let name = cost.bottleneckLabel(batch: c.size, parallelism: config.parallelism) ?? b.stage
        return String(
            format: " (bottleneck %@ %.4f s per batch, deadline %.4f s, %.1f frames/s)", name, b.seconds, deadline, thr)
    }

    func violation(_ c: Candidate) -> String {
        if !c.keepsUp { return "does not keep up" }
        if !c.fits { return "memory" }
        return "latency over the SLO"
    }

    mutating func record(_ load: LoadSnapshot, to size: Int, _ c: Candidate, _ why: String) -> BatchDecision {
        let decision = BatchDecision(
            time: load.time, from: batch, to: size, reason: why,
            bottleneck: cost.bottleneckLabel(batch: size, parallelism: config.parallelism) ?? c.bottleneck?.stage,
            bottleneckSeconds: c.bottleneck?.seconds, predictedThroughput: c.throughput,
            deadlineSeconds: Double(size) / max(load.arrivalRate, 1e-9), arrivalRate: load.arrivalRate,
            latencyP99: load.latencyP99, overloaded: overloaded, skipEvery: nil,
            requests: config.maxRequests > 1 ? requests : nil)
        if size != batch {
            // Capacity by requests in flight was measured at the old size.
            requestCapacity = [:]
            probedRequests = []
        }
        batch = size
        lastChange = load.time
        return decision
    }

    /// 1 in k frames skipped leaves `arrival * (1 - 1/k)`: the smallest k... that fits `capacity`,
    /// i.e. the largest k whose remainder fits (skip as little as possible).
    static func skipEvery(arrival: Double, capacity: Double) -> Int {
        guard arrival > capacity, capacity > 0 else { return 0 }
        // Keep (1 - 1/k) * arrival <= capacity  =>  k <= arrival / (arrival - capacity).
        return max(2, Int((arrival / (arrival - capacity)).rounded(.down)))
    }

    // MARK: aimd

    mutating func decideAIMD(_ load: LoadSnapshot) -> BatchDecision? {
        guard let p99 = load.latencyP99, load.time - lastChange >= config.dwell / 2 else { return nil }
        let maxSize = config.sizes.last!
        let next: Int
        let why: String
        if p99 > config.latencySLO {
            next = max(1, min(batch - 1, Int((Double(batch) * config.aimdDecrease).rounded(.down))))
            why = "p99 \(ms(p99)) over the \(ms(config.latencySLO)) SLO: multiplicative decrease"
        } else {
            next = min(maxSize, batch + 1)
            why = "p99 \(ms(p99)) within the SLO: additive increase"
        }
        guard next != batch else { return nil }
        return record(load, to: next, candidate(next, load), why)
    }

    private func ms(_ s: Double) -> String { String(format: "%.0f ms", s * 1000) }
}
