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
/// A value type with no I/O: feed it `observe` after each batch and ask `decide` now and then (and at
/// once after a batch while `wantsEarlyLook` says so).
///
/// Two kinds of evidence, kept apart:
/// - *Predictions* (the stage costs per batch, and the line through them) may choose a size to try.
/// - *Measurements* (the queues, the output rate) alone say that the pipeline is falling behind, and so
///   whether frames are shed; under overload a size's capacity is what it delivered, not what its
///   per-batch time promises. A size found slower is remembered (`slower`) and not tried again until
///   it is forgotten (`Config.forget` seconds, a change of model or of the number of streams).
public struct BatchController: Sendable {
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

        /// Default settings.
        public init() {}
    }

    /// A size being tried: where it came from, when, and what was seen there so far.
    public struct Probe: Sendable, Equatable {
        /// The size tried.
        public var size: Int
        /// The size it left, to go back to.
        public var from: Int
        /// When it began.
        public var start: Double
        /// Batches measured at `size` since.
        public var batches = 0
        /// Whether the pipeline was already falling behind when it began (overload probing).
        public var behindBefore: Bool
        /// Whether its stage costs were looked at already (or need not be: a move for latency or
        /// memory, not throughput, is judged by the queues alone).
        public var judged = false
        /// Frames waiting when it began.
        public var depthAtStart = 0
        /// When its first batch was seen, and the batches by then: its own output rate is counted
        /// from there.
        public var firstSeen: Mark?

        /// A moment in a probe: when, and how many batches it had run by then.
        public struct Mark: Sendable, Equatable {
            /// When.
            public var time: Double
            /// Batches run by then.
            public var batches: Int
        }
    }

    /// Settings.
    public var config: Config
    /// The current batch size.
    public private(set) var batch: Int
    /// What it has learned.
    public private(set) var cost = CostModel()
    /// Whether it is shedding frames now: set only while the measurements say the pipeline falls behind.
    public private(set) var overloaded = false
    /// Inference requests in flight now (meaningful when `config.maxRequests` > 0).
    public private(set) var requests: Int
    /// Frames per second finished while overloaded at the current batch size, by requests in flight.
    public private(set) var requestCapacity: [Int: CostModel.Sample] = [:]
    /// Frames per second each size delivered while the pipeline was falling behind: its capacity as
    /// measured, at the requests in flight of the time.
    public private(set) var capacity: [Int: CostModel.Sample] = [:]
    /// Sizes found slower than another, and when: not tried or chosen again until forgotten.
    public private(set) var slower: [Int: Double] = [:]
    /// The size being tried, if any.
    public private(set) var probe: Probe?
    private var capacitySeen: [Int: Double] = [:]
    private var probedRequests: Set<Int> = []
    private var lastChange = -Double.infinity
    /// When the current overload began.
    private var overloadSince = -Double.infinity
    /// Sizes tried, and when: each is tried once until forgotten.
    private var probed: [Int: Double] = [:]
    private var streams: Int?
    /// The first look's time: queues fill while a pipeline starts, and say nothing of capacity then.
    private var started: Double?
    /// Whether the pipeline reports its output rate; without it, a measured size's stage costs stand
    /// in for what it delivered.
    private var outputReported = false

    /// Starts at `initial` (clamped to the allowed sizes) with `requests` in flight.
    public init(config: Config = Config(), initial: Int = 1, requests: Int = 1) {
        precondition(!config.sizes.isEmpty, "the controller needs sizes to choose from")
        self.config = config
        self.requests = requests
        self.config.sizes = config.sizes.sorted()
        batch = config.sizes.contains(initial) ? initial : config.sizes.sorted().first!
    }

    /// Whether to decide right after the next batch instead of waiting for the next regular look: a
    /// size being tried has run enough batches to be judged by its stage costs.
    public var wantsEarlyLook: Bool {
        guard let p = probe, p.size == batch, p.batches >= 1 else { return false }
        // Tried while keeping up: the queues are watched after every batch, so that a size that
        // falls behind is ended before they fill. Tried under overload: its own output, until judged.
        return !p.behindBefore || !p.judged
    }

    /// Records one finished batch: seconds it took in each stage.
    public mutating func observe(batch size: Int, stageSeconds: [Stage: Double], memoryBytes: Int? = nil) {
        for (stage, seconds) in stageSeconds { cost.observe(stage: stage, batch: size, seconds: seconds) }
        if let memoryBytes { cost.observe(memoryBytes: memoryBytes, batch: size) }
        if !stageSeconds.isEmpty, probe?.size == size { probe?.batches += 1 }
    }

    /// Forgets costs: the model changed (a swap), so every stage must be measured again.
    public mutating func modelChanged() {
        cost.reset()
        probed = [:]
        forgetCapacity()
        probe = nil
    }

    private mutating func forgetCapacity() {
        capacity = [:]
        capacitySeen = [:]
        slower = [:]
        requestCapacity = [:]
        probedRequests = []
    }

    /// Whether the measurements say the pipeline is falling behind at the current size: the queues
    /// (three-quarters full and not draining, or half full and losing ground), or, with no queue
    /// figures, the current size's measured bottleneck against its period (B / arrival rate, no margin).
    public func fallingBehind(_ load: LoadSnapshot) -> Bool {
        if let cap = load.queueCapacity, cap > 0 {
            let out = load.outputRate
            // Files run as fast as they go (backlog) are always saturated: their arrivals wait for
            // the pipeline, and an output above them is only the queue's breathing.
            if load.saturated { return config.shed == .backlog || (out.map { $0 <= load.arrivalRate * 1.05 } ?? true) }
            return load.queueDepth * 2 >= cap && (out.map { $0 < load.arrivalRate * 0.98 } ?? false)
        }
        guard load.arrivalRate > 0, cost.measuredSizes.contains(batch),
            let b = cost.bottleneck(batch: batch, parallelism: config.parallelism)
        else { return false }
        return b.seconds > Double(batch) / load.arrivalRate
    }

    /// Decides, and returns a decision when the batch size or the overload state changes.
    public mutating func decide(_ load: LoadSnapshot) -> BatchDecision? {
        // A change in the number of streams changes what each size can do (decoders share the
        // machine), and so does time: what was found slower is forgotten.
        if let before = streams, before != load.streams {
            forgetCapacity()
            probed = [:]
        }
        streams = load.streams
        if load.outputRate != nil { outputReported = true }
        for (size, when) in slower where load.time - when >= config.forget {
            // Its costs too: what made it slower may have gone, and it may be tried again.
            slower[size] = nil
            probed[size] = nil
            if size != batch { cost.forget(batch: size) }
        }
        for (size, when) in probed where load.time - when >= config.forget { probed[size] = nil }
        for (size, when) in capacitySeen where size != batch && load.time - when >= config.forget {
            capacity[size] = nil
            capacitySeen[size] = nil
        }
        let behind = fallingBehind(load)
        if started == nil { started = load.time }
        // Falling behind, the output rate is the capacity at this size (once the size has settled in,
        // over enough batches, and the pipeline has started up); an output rate that matches arrivals
        // with the queues not full says only that this size keeps up.
        if behind, let rate = load.outputRate, rate > 0, load.time - lastChange >= 1, warmedUp(load) {
            capacity[batch] = .adding(rate, to: capacity[batch], smoothing: 0.3)
            capacitySeen[batch] = load.time
            requestCapacity[requests] = .adding(rate, to: requestCapacity[requests], smoothing: 0.3)
        }
        switch config.policy {
        case .fixed: return nil
        case .aimd: return decideAIMD(load)
        case .realtime, .slo: return decideModel(load, behind: behind) ?? tuneRequests(load)
        }
    }

    /// Whether a dwell has passed since the first look.
    func warmedUp(_ load: LoadSnapshot) -> Bool { load.time - (started ?? load.time) >= config.dwell }

    /// Whether the current size keeps up with the margin to spare (its measured stage costs finish a
    /// batch within `margin * B / arrival rate`): only then may a size be tried while nothing falls
    /// behind. Nearer capacity a try could only cost frames, since none are being lost.
    /// The queues must be nearly empty too (an eighth of their room at most): where stages share
    /// the same cores the stage costs overstate what a size can do, and frames waiting say the
    /// pipeline is busier than they tell.
    func roomToTry(_ load: LoadSnapshot) -> Bool {
        guard warmedUp(load), let b = cost.bottleneck(batch: batch, parallelism: config.parallelism),
            load.arrivalRate > 0
        else { return false }
        if let cap = load.queueCapacity, load.queueDepth > max(1, cap / 8) { return false }
        return b.seconds <= config.margin * Double(batch) / load.arrivalRate
    }

    // MARK: requests in flight

    /// Overloaded and settled at one batch size: tries one more request in flight, and goes back
    /// when it did not raise the measured output rate by more than a tie. Where requests overlap
    /// (a GPU copying one batch while computing another) more in flight pays; on a CPU whose
    /// streams are all busy it does not, and the controller measures which.
    mutating func tuneRequests(_ load: LoadSnapshot) -> BatchDecision? {
        guard config.maxRequests > 1, overloaded, probe == nil, load.time - lastChange >= config.dwell,
            let here = requestCapacity[requests], here.count >= 2
        else { return nil }
        if let below = requestCapacity[requests - 1], probedRequests.contains(requests),
            here.value <= below.value * (1 + config.tie)
        {
            let to = requests - 1
            return recordRequests(
                load, to: to,
                "\(requests) requests in flight gave \(fps(here.value)) frames/s, no more than \(to)'s "
                    + "\(fps(below.value)): back to \(to)")
        }
        guard requests < config.maxRequests, !probedRequests.contains(requests + 1) else { return nil }
        probedRequests.insert(requests + 1)
        return recordRequests(
            load, to: requests + 1,
            "overload at B=\(batch): probing \(requests + 1) requests in flight (\(requests) give "
                + "\(fps(here.value)) frames/s)")
    }

    mutating func recordRequests(_ load: LoadSnapshot, to count: Int, _ why: String) -> BatchDecision {
        // `parallelism["infer"]` stays: batches beyond the device's streams queue for them, and the
        // seconds measured per batch already include that wait.
        requests = count
        lastChange = load.time
        return record(load, to: batch, candidate(batch, load), why)
    }

    // MARK: realtime and slo

    /// Figures for one candidate size.
    struct Candidate {
        var size: Int
        var bottleneck: (stage: Stage, seconds: Double)?
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

    /// Whether the stage costs say `size` would give plainly less throughput than `than`; false
    /// while either is unknown.
    func plainlyWorse(_ size: Int, than: Int, _ load: LoadSnapshot) -> Bool {
        guard let there = candidate(size, load).throughput, let here = candidate(than, load).throughput else {
            return false
        }
        return there < here * (1 - config.plainlyWorse)
    }

    /// Frames per second `size` delivered while falling behind; where the pipeline reports no output
    /// rate, the throughput its own measured stage costs give (never a size only on the line).
    func delivered(_ size: Int, _ load: LoadSnapshot) -> Double? {
        if let c = capacity[size] { return c.value }
        guard !outputReported, cost.measuredSizes.contains(size) else { return nil }
        return candidate(size, load).throughput
    }

    mutating func decideModel(_ load: LoadSnapshot, behind: Bool) -> BatchDecision? {
        guard load.arrivalRate > 0 else { return nil }
        if let decision = judgeProbe(load, behind: behind) { return decision }
        var current = candidate(batch, load)
        guard current.throughput != nil else { return nil }  // nothing measured at the current size yet
        if behind { return decideOverload(load) }

        // Not falling behind, as measured: the current size keeps up, whatever its prediction says;
        // so does a size measured (not extrapolated) to have at least its throughput.
        current.keepsUp = true
        let measured = Set(cost.measuredSizes)
        let all = config.sizes.map { size in
            guard size != batch else { return current }
            var c = candidate(size, load)
            if measured.contains(size), let mine = current.throughput, (c.throughput ?? 0) >= mine { c.keepsUp = true }
            return c
        }
        // Sizes beyond one found slower are not climbed into on predictions (the line through the
        // sizes measured is what the slower one contradicted).
        let wall = slower.keys.filter { $0 > batch }.min() ?? Int.max
        let known = all.filter {
            $0.throughput != nil && slower[$0.size] == nil && (measured.contains($0.size) || $0.size < wall)
        }
        let feasible = known.filter(\.feasible)
        let missedSLO = config.policy == .slo && (load.latencyP99.map { $0 > config.latencySLO } ?? false)
        if overloaded {
            // Out of overload only after a dwell: at capacity the queues fill and drain by turns,
            // and the state would flap with them.
            guard load.time - max(lastChange, overloadSince) >= config.dwell else { return nil }
            overloaded = false
            return record(load, to: batch, current, "load fell: B=\(batch) keeps up again")
        }
        guard let best = pickBest(feasible) else { return nil }
        if best.size == batch && !missedSLO {
            return probeUp(load, current: current) ?? probeDown(load, current: current)
        }
        let urgent = missedSLO || !current.feasible
        // In a hurry, only a size measured to keep up is safe.
        let safe = pickBest(feasible.filter { cost.measuredSizes.contains($0.size) && $0.size != batch })
        if urgent && safe == nil { return nil }
        let better = (best.throughput ?? 0) > (current.throughput ?? 0) * (1 + config.gain)
        // A tie with a smaller size: take the smaller one, for latency.
        let smallerTie = best.size < batch && (best.throughput ?? 0) >= (current.throughput ?? 0) * (1 - config.tie)
        guard urgent || ((better || smallerTie) && load.time - lastChange >= config.dwell) else {
            // Not worth a move on predictions alone: the next size up may still be measured.
            return urgent ? nil : probeUp(load, current: current)
        }
        // An unmeasured size is approached one step at a time (and watched after every batch).
        let target = urgent ? safe!.size : stepToward(best.size)
        guard target != batch else { return nil }
        let chosen = candidate(target, load)
        let why: String
        if missedSLO {
            why = "p99 over the \(ms(config.latencySLO)) SLO at B=\(batch): B=\(target)"
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
        // Every move is tried like a probe: ended if it falls behind, or, made for throughput, if its
        // costs are plainly worse.
        probe = Probe(
            size: target, from: batch, start: load.time, behindBefore: false, judged: urgent || !better,
            depthAtStart: load.queueDepth)
        return record(load, to: target, chosen, why + explain(chosen, load))
    }

    /// A size being tried is ended as soon as the evidence is in: its stage costs plainly worse than
    /// the size it left (after a few batches), or, tried while keeping up, the queues falling behind.
    mutating func judgeProbe(_ load: LoadSnapshot, behind: Bool) -> BatchDecision? {
        guard var p = probe else { return nil }
        guard p.size == batch else {
            probe = nil
            return nil
        }
        if p.firstSeen == nil && p.batches >= 1 {
            p.firstSeen = Probe.Mark(time: load.time, batches: p.batches)
            probe = p
        }
        // Tried under overload (its queues full, so what it puts out is what it can do): its own
        // output rate since its first batch, against what the size it left delivered.
        if p.behindBefore, !p.judged, let first = p.firstSeen, p.batches - first.batches >= config.probeLook,
            load.time - first.time >= config.probeSeconds
        {
            p.judged = true
            probe = p
            let rate = Double((p.batches - first.batches) * batch) / (load.time - first.time)
            if let before = delivered(p.from, load), rate < before * (1 - config.plainlyWorse) {
                return endProbe(
                    load, p,
                    "B=\(batch) ended after \(p.batches) batches: it put out \(fps(rate)) frames/s, plainly less "
                        + "than the \(fps(before)) B=\(p.from) delivered: back to B=\(p.from)")
            }
        }
        // Tried while keeping up (its output is the arrivals): its stage costs against the size it left.
        if !p.behindBefore, !p.judged, p.batches >= config.probeLook, load.time - p.start >= config.probeSeconds {
            p.judged = true
            probe = p
            if plainlyWorse(batch, than: p.from, load) {
                let there = candidate(batch, load).throughput ?? 0
                let here = candidate(p.from, load).throughput ?? 0
                return endProbe(
                    load, p,
                    "B=\(batch) ended after \(p.batches) batches: its stage costs give \(fps(there)) frames/s, "
                        + "plainly less than B=\(p.from)'s \(fps(here)): back to B=\(p.from)")
            }
        }
        // Losing ground: the queues grew by more than the batch being filled and an eighth of their
        // room since it began.
        let grew = load.queueCapacity.map { load.queueDepth > p.depthAtStart + batch + max(1, $0 / 8) } ?? false
        if (behind || grew) && !p.behindBefore {
            return endProbe(
                load, p,
                "B=\(batch) fell behind at \(fps(load.arrivalRate)) frames/s (queues \(queues(load))); "
                    + "B=\(p.from) kept up: back to B=\(p.from)")
        }
        // Long enough without either: from now on it is judged like any other size.
        if load.time - p.start >= config.dwell && (!p.behindBefore || delivered(batch, load) != nil) { probe = nil }
        return nil
    }

    mutating func endProbe(_ load: LoadSnapshot, _ p: Probe, _ why: String) -> BatchDecision {
        slower[p.size] = load.time
        probe = nil
        return record(load, to: p.from, candidate(p.from, load), why)
    }

    /// Falling behind, as measured: shed (by the policy), learn what each size delivers, settle on
    /// the one that delivered most and come back to it, and try a neighbour only where it may pay.
    mutating func decideOverload(_ load: LoadSnapshot) -> BatchDecision? {
        let entering = !overloaded
        if entering { overloadSince = load.time }
        overloaded = true
        let arriving = fps(load.arrivalRate)
        // 1. Back to the size that delivered most. A size being tried must beat the one it left by
        // more than a tie; any other size goes back when another delivered more (every frame per
        // second it lacks is shed). One look may be a transition's: two, unless it is plainly less.
        let fitting = config.sizes.compactMap { size in
            delivered(size, load).flatMap { candidate(size, load).fits ? (size: size, value: $0) : nil }
        }
        // The size to go back to, and what this one must deliver to stay.
        let back: (size: Int, value: Double, bar: Double)?
        if let p = probe, p.size == batch, p.behindBefore, let before = delivered(p.from, load) {
            back = (p.from, before, before * (1 + config.tie))
        } else {
            back = fitting.filter { $0.size != batch }
                .max { $0.value < $1.value || ($0.value == $1.value && $0.size > $1.size) }
                .map { ($0.size, $0.value, $0.value) }
        }
        if load.time - lastChange >= 1, let here = delivered(batch, load), let top = back, top.bar >= here,
            (capacity[batch]?.count ?? 2) >= 2 || here < top.bar * (1 - config.plainlyWorse)
        {
            slower[batch] = load.time
            probe = nil
            var decision = record(
                load, to: top.size, candidate(top.size, load),
                "overload: B=\(top.size) delivered \(fps(top.value)) frames/s, B=\(batch) only \(fps(here)), "
                    + "of \(arriving) arriving: back to B=\(top.size), shedding by \(config.shed.rawValue)")
            decision.skipEvery = skip(load, capacity: top.value)
            return decision
        }
        // 2. Try a neighbour never run under overload, once this size's delivery is known.
        if probe == nil, warmedUp(load), let here = delivered(batch, load), load.time - lastChange >= config.dwell / 2,
            let next = nextProbe(load)
        {
            probed[next] = load.time
            probe = Probe(size: next, from: batch, start: load.time, behindBefore: true)
            var decision = record(
                load, to: next, candidate(next, load),
                "overload: B=\(batch) delivers \(fps(here)) frames/s of \(arriving) arriving; probing B=\(next)")
            decision.skipEvery = skip(load, capacity: here)
            return decision
        }
        // 3. Stay, shedding what the queues cannot hold.
        guard entering else { return nil }
        let current = candidate(batch, load)
        var decision = record(
            load, to: batch, current,
            "overload: falling behind at B=\(batch) with \(arriving) frames/s arriving (queues \(queues(load))); "
                + "shedding by \(config.shed.rawValue)"
                + explain(current, load))
        decision.skipEvery = skip(load, capacity: delivered(batch, load) ?? current.throughput ?? 0)
        return decision
    }

    /// The next size to try under overload: one step up while the last step up paid (or nothing
    /// says otherwise), else one step down when that was never run; never one remembered slower, nor
    /// one whose measured stage costs already say it is plainly worse.
    func nextProbe(_ load: LoadSnapshot) -> Int? {
        func allowed(_ size: Int) -> Bool {
            delivered(size, load) == nil && slower[size] == nil && probed[size] == nil && candidate(size, load).fits
                && !plainlyWorse(size, than: batch, load)
        }
        if let up = config.sizes.first(where: { $0 > batch }), lastStepPaid(batch, load) ?? true, allowed(up) {
            return up
        }
        if let down = config.sizes.last(where: { $0 < batch }), allowed(down) { return down }
        return nil
    }

    /// 1 in k frames to skip under the `skip` policy, with the margin; nil for other policies.
    func skip(_ load: LoadSnapshot, capacity: Double) -> Int? {
        guard config.shed == .skip, capacity > 0 else { return nil }
        return Self.skipEvery(arrival: load.arrivalRate, capacity: capacity * config.margin)
    }

    /// Whether the measured capacity rose (by more than a tie) from the size below `hi` to `hi`: the
    /// last step up paid, so the next may too. Nil until both were measured saturated.
    func lastStepPaid(_ hi: Int, _ load: LoadSnapshot) -> Bool? {
        guard let top = delivered(hi, load),
            let under = config.sizes.filter({ $0 < hi }).reversed().lazy.compactMap({ delivered($0, load) }).first
        else { return nil }
        return top > under * (1 + config.tie)
    }

    /// The best of `candidates`: highest throughput, the smallest size among near-ties.
    func pickBest(_ candidates: [Candidate]) -> Candidate? {
        guard let top = candidates.compactMap(\.throughput).max() else { return nil }
        return candidates.filter { ($0.throughput ?? 0) >= top * (1 - config.tie) }.min { $0.size < $1.size }
    }

    /// Tries the next size up when it was never measured and the current one keeps up: it may have
    /// more throughput, and if it falls behind it is ended before the queues fill. Each size is tried
    /// once; what it measured decides from then on.
    mutating func probeUp(_ load: LoadSnapshot, current: Candidate) -> BatchDecision? {
        guard load.time - lastChange >= config.dwell, current.feasible, roomToTry(load),
            let next = config.sizes.first(where: { $0 > batch }), !cost.measuredSizes.contains(next),
            probed[next] == nil, slower[next] == nil, !plainlyWorse(next, than: batch, load)
        else { return nil }
        if config.policy == .slo, let p99 = load.latencyP99,
            p99 + Double(next - batch) / load.arrivalRate > config.latencySLO
        {
            return nil
        }
        // Memory measured at two sizes predicts the next: a probe that would not fit is not tried.
        guard candidate(next, load).fits else { return nil }
        probed[next] = load.time
        probe = Probe(size: next, from: batch, start: load.time, behindBefore: false, depthAtStart: load.queueDepth)
        return record(
            load, to: next, candidate(next, load), "probing B=\(next): never measured, and B=\(batch) keeps up")
    }

    /// Tries the next size down when it was never measured (after a swap, the costs start from one
    /// size): smaller batches wait less, and what it measures tells whether it keeps up.
    mutating func probeDown(_ load: LoadSnapshot, current: Candidate) -> BatchDecision? {
        guard load.time - lastChange >= config.dwell, current.feasible, roomToTry(load),
            let next = config.sizes.last(where: { $0 < batch }), !cost.measuredSizes.contains(next),
            cost.measuredSizes.count < 2, probed[next] == nil, slower[next] == nil
        else { return nil }
        probed[next] = load.time
        probe = Probe(size: next, from: batch, start: load.time, behindBefore: false, depthAtStart: load.queueDepth)
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
        let name = cost.bottleneckLabel(batch: c.size, parallelism: config.parallelism) ?? b.stage.rawValue
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
            bottleneck: cost.bottleneckLabel(batch: size, parallelism: config.parallelism)
                ?? c.bottleneck?.stage.rawValue,
            bottleneckSeconds: c.bottleneck?.seconds, predictedThroughput: c.throughput,
            deadlineSeconds: Double(size) / max(load.arrivalRate, 1e-9), arrivalRate: load.arrivalRate,
            latencyP99: load.latencyP99, overloaded: overloaded, skipEvery: nil,
            requests: config.maxRequests > 1 ? requests : nil)
        if size != batch {
            // Capacity by requests in flight was measured at the old size.
            requestCapacity = [:]
            probedRequests = []
        }
        // Only a change of size restarts the dwell; a change of overload state alone does not.
        if size != batch { lastChange = load.time }
        batch = size
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
    /// `12/40`: frames waiting, and the room the queues have (when known).
    private func queues(_ load: LoadSnapshot) -> String {
        "\(load.queueDepth)" + (load.queueCapacity.map { "/\($0)" } ?? "")
    }
    private func fps(_ v: Double) -> String { String(format: "%.1f", v) }
}
