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
///
/// Where it stands is its `phase` (keeping up or overloaded, with a size on trial or not), which
/// changes only in `transition(_:)` (BatchController+StateMachine.swift); what it chooses is worked
/// out in BatchController+Choices.swift from the predictions in BatchController+Predictions.swift.
public struct BatchController: Sendable {
    /// Settings.
    public var config: Config
    /// The current batch size.
    public private(set) var batch: Int
    /// What it has learned.
    public private(set) var cost = CostModel()
    /// The first knob: the inference intervals of the streams that let it choose them
    /// (`decide(_:streams:)`, BatchController+Intervals.swift).
    public var intervals = IntervalController()
    /// Inference requests in flight now (meaningful when `config.maxRequests` > 0).
    public private(set) var requests: Int
    /// Its phase, which only `transition(_:)` changes.
    var machine = StateMachine()
    /// Capacities delivered, sizes found slower, sizes tried.
    var ledger = Ledger()
    /// When the batch size (or the requests in flight) last changed.
    var lastChange = -Double.infinity
    /// No move for throughput before this time: the intervals just changed, and the load they make
    /// has not settled (set by `decide(_:streams:)`).
    var quietUntil = -Double.infinity
    /// Streams at the last look; nil before the first.
    private var streams: Int?
    /// The first look's time: queues fill while a pipeline starts, and say nothing of capacity then.
    private var started: Double?
    /// Whether the pipeline reports its output rate; without it, a measured size's stage costs stand
    /// in for what it delivered.
    var outputReported = false

    /// Starts at `initial` (clamped to the allowed sizes) with `requests` in flight.
    public init(config: Config = Config(), initial: Int = 1, requests: Int = 1) {
        precondition(!config.sizes.isEmpty, "the controller needs sizes to choose from")
        self.config = config
        self.requests = requests
        self.config.sizes = config.sizes.sorted()
        batch = config.sizes.contains(initial) ? initial : config.sizes.sorted().first!
    }

    /// Where it stands: keeping up or overloaded, and the size on trial, if any.
    public var phase: Phase { machine.phase }
    /// Whether it is shedding frames now: set only while the measurements say the pipeline falls behind.
    public var overloaded: Bool { phase.overloaded }
    /// Frames per second finished while overloaded at the current batch size, by requests in flight.
    public var requestCapacity: [Int: CostModel.Sample] { ledger.requestCapacity }
    /// Frames per second each size delivered while the pipeline was falling behind: its capacity as
    /// measured, at the requests in flight of the time.
    public var capacity: [Int: CostModel.Sample] { ledger.capacity }
    /// Sizes found slower than another, and when: not tried or chosen again until forgotten.
    public var slower: [Int: Double] { ledger.slower }

    /// Whether to decide right after the next batch instead of waiting for the next regular look: a
    /// size being tried has run enough batches to be judged by its stage costs.
    public var wantsEarlyLook: Bool {
        switch phase {
        case .steady, .overloaded:
            return false
        case .trying(let trial):
            // Tried while keeping up: the queues are watched after every batch, so that a size that
            // falls behind is ended before they fill.
            return trial.size == batch && trial.batches >= 1
        case .probingOverload(let trial, _), .recovering(let trial):
            // Tried under overload: its own output, until judged.
            return trial.size == batch && trial.batches >= 1 && !trial.judged
        }
    }

    /// Records one finished batch: seconds it took in each stage.
    public mutating func observe(batch size: Int, stageSeconds: [Stage: Double], memoryBytes: Int? = nil) {
        for (stage, seconds) in stageSeconds { cost.observe(stage: stage, batch: size, seconds: seconds) }
        if let memoryBytes { cost.observe(memoryBytes: memoryBytes, batch: size) }
        if !stageSeconds.isEmpty { transition(.batchFinished(size: size)) }
    }

    /// Forgets costs: the model changed (a swap), so every stage must be measured again.
    public mutating func modelChanged() {
        cost.reset()
        intervals.modelChanged()
        ledger = Ledger()
        transition(.modelChanged)
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
        if let before = streams, before != load.streams { ledger = Ledger() }
        streams = load.streams
        if load.outputRate != nil { outputReported = true }
        for size in ledger.expire(at: load.time, after: config.forget, running: batch) { cost.forget(batch: size) }
        let behind = fallingBehind(load)
        if started == nil { started = load.time }
        // Falling behind, the output rate is the capacity at this size (once the size has settled in,
        // over enough batches, and the pipeline has started up); an output rate that matches arrivals
        // with the queues not full says only that this size keeps up.
        if behind, let rate = load.outputRate, rate > 0, load.time - lastChange >= 1, warmedUp(load) {
            ledger.delivered(rate, batch: batch, requests: requests, at: load.time)
        }
        return transition(.look(load, behind: behind))
    }

    /// Frames per second the current size's stage costs promise (nil before it is measured).
    public func predictedThroughput(_ load: LoadSnapshot) -> Double? { candidate(batch, load).throughput }

    /// Whether a dwell has passed since the first look.
    func warmedUp(_ load: LoadSnapshot) -> Bool { load.time - (started ?? load.time) >= config.dwell }

    /// Does what a look decided: notes it in the ledger, sets the requests in flight and the batch
    /// size, and says so. The phase has changed already.
    mutating func perform(_ action: Action, _ load: LoadSnapshot) -> BatchDecision {
        ledger.note(action.memo, at: load.time)
        if let count = action.requests {
            // `parallelism["infer"]` stays: batches beyond the device's streams queue for them, and the
            // seconds measured per batch already include that wait.
            requests = count
            lastChange = load.time
        }
        let c = candidate(action.to, load)
        let decision = BatchDecision(
            time: load.time, from: batch, to: action.to, why: action.why,
            bottleneck: cost.bottleneckLabel(batch: action.to, parallelism: config.parallelism)
                ?? c.bottleneck?.stage.rawValue,
            bottleneckSeconds: c.bottleneck?.seconds, predictedThroughput: c.throughput,
            deadlineSeconds: Double(action.to) / max(load.arrivalRate, 1e-9), arrivalRate: load.arrivalRate,
            latencyP99: load.latencyP99, overloaded: overloaded, skipEvery: action.skipEvery,
            requests: config.maxRequests > 1 ? requests : nil)
        if action.to != batch {
            // Capacity by requests in flight was measured at the old size.
            ledger.batchChanged()
            // Only a change of size restarts the dwell; a change of overload state alone does not.
            lastChange = load.time
        }
        batch = action.to
        return decision
    }

    /// 1 in k frames skipped leaves `arrival * (1 - 1/k)`: the smallest k... that fits `capacity`,
    /// i.e. the largest k whose remainder fits (skip as little as possible).
    static func skipEvery(arrival: Double, capacity: Double) -> Int {
        guard arrival > capacity, capacity > 0 else { return 0 }
        // Keep (1 - 1/k) * arrival <= capacity  =>  k <= arrival / (arrival - capacity).
        return max(2, Int((arrival / (arrival - capacity)).rounded(.down)))
    }
}
