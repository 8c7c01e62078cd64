extension BatchController {
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

    /// What the stage costs (and the memory measured) predict at `size` under `load`.
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
        if let c = ledger.capacity[size] { return c.value }
        guard !outputReported, cost.measuredSizes.contains(size) else { return nil }
        return candidate(size, load).throughput
    }

    /// The best of `candidates`: highest throughput, the smallest size among near-ties.
    func pickBest(_ candidates: [Candidate]) -> Candidate? {
        guard let top = candidates.compactMap(\.throughput).max() else { return nil }
        return candidates.filter { ($0.throughput ?? 0) >= top * (1 - config.tie) }.min { $0.size < $1.size }
    }

    /// One allowed size beyond the largest (or below the smallest) measured size at most.
    func stepToward(_ target: Int) -> Int {
        let measured = cost.measuredSizes
        guard let hi = measured.max(), let lo = measured.min() else { return target }
        if target > hi { return config.sizes.first { $0 > hi } ?? target }
        if target < lo { return config.sizes.last { $0 < lo } ?? target }
        return target
    }

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

    /// The next size to try under overload: one step up while the last step up paid (or nothing
    /// says otherwise), else one step down when that was never run; never one remembered slower, nor
    /// one whose measured stage costs already say it is plainly worse.
    func nextProbe(_ load: LoadSnapshot) -> Int? {
        func allowed(_ size: Int) -> Bool {
            delivered(size, load) == nil && ledger.slower[size] == nil && ledger.probed[size] == nil
                && candidate(size, load).fits && !plainlyWorse(size, than: batch, load)
        }
        if let up = config.sizes.first(where: { $0 > batch }), lastStepPaid(batch, load) ?? true, allowed(up) {
            return up
        }
        if let down = config.sizes.last(where: { $0 < batch }), allowed(down) { return down }
        return nil
    }

    /// Whether the measured capacity rose (by more than a tie) from the size below `hi` to `hi`: the
    /// last step up paid, so the next may too. Nil until both were measured saturated.
    func lastStepPaid(_ hi: Int, _ load: LoadSnapshot) -> Bool? {
        guard let top = delivered(hi, load),
            let under = config.sizes.filter({ $0 < hi }).reversed().lazy.compactMap({ delivered($0, load) }).first
        else { return nil }
        return top > under * (1 + config.tie)
    }

    /// 1 in k frames to skip under the `skip` policy, with the margin; nil for other policies.
    func skip(_ load: LoadSnapshot, capacity: Double) -> Int? {
        guard config.shed == .skip, capacity > 0 else { return nil }
        return Self.skipEvery(arrival: load.arrivalRate, capacity: capacity * config.margin)
    }

    /// What a reason quotes of candidate `c`: its bottleneck, its deadline with the margin, its
    /// throughput; nil while unknown.
    func prediction(_ c: Candidate, _ load: LoadSnapshot) -> DecisionReason.Prediction? {
        guard let b = c.bottleneck, let rate = c.throughput else { return nil }
        let deadline = config.margin * Double(c.size) / max(load.arrivalRate, 1e-9)
        let stages = cost.bottleneckStages(batch: c.size, parallelism: config.parallelism) ?? [b.stage]
        return DecisionReason.Prediction(bottleneck: stages, seconds: b.seconds, deadline: deadline, rate: rate)
    }

    /// Why candidate `c` is not feasible.
    func violation(_ c: Candidate) -> DecisionReason.Violation {
        if !c.keepsUp { return .keepUp }
        if !c.fits { return .memory }
        return .latency
    }
}
