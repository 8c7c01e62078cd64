extension BatchController {
    // MARK: keeping up (realtime and slo)

    /// The move to make while nothing falls behind, and whether its stage costs need no look once
    /// tried (a move for latency or memory, not throughput, is judged by the queues alone); nil to stay.
    func keepingUpChoice(_ load: LoadSnapshot) -> (action: Action, judged: Bool)? {
        // Not falling behind, as measured: the current size keeps up, whatever its prediction says;
        // so does a size measured (not extrapolated) to have at least its throughput.
        var current = candidate(batch, load)
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
        let wall = ledger.slower.keys.filter { $0 > batch }.min() ?? Int.max
        let known = all.filter {
            $0.throughput != nil && ledger.slower[$0.size] == nil && (measured.contains($0.size) || $0.size < wall)
        }
        let feasible = known.filter(\.feasible)
        let missedSLO = config.policy == .slo && (load.latencyP99.map { $0 > config.latencySLO } ?? false)
        // Light load: the smallest measured size with room, or stay; no move or probe for throughput.
        if !missedSLO, current.feasible, isLight(current, load) {
            let choice =
                lightLoadChoice(load, current: current, among: all.filter { measured.contains($0.size) && $0.feasible })
                ?? probeDown(load, current: current)
            return choice.map { ($0, true) }
        }
        guard let best = pickBest(feasible) else { return nil }
        if best.size == batch && !missedSLO {
            return (probeUp(load, current: current) ?? probeDown(load, current: current)).map { ($0, false) }
        }
        let urgent = missedSLO || !current.feasible
        // In a hurry, only a size measured to keep up is safe.
        let safe = pickBest(feasible.filter { cost.measuredSizes.contains($0.size) && $0.size != batch })
        if urgent && safe == nil { return nil }
        let better = (best.throughput ?? 0) > (current.throughput ?? 0) * (1 + gainNeeded(best.size))
        // A tie with a smaller size: take the smaller one, for latency.
        let smallerTie = best.size < batch && (best.throughput ?? 0) >= (current.throughput ?? 0) * (1 - config.tie)
        guard urgent || ((better || smallerTie) && load.time - lastChange >= config.dwell) else {
            // Not worth a move on predictions alone: the next size up may still be measured.
            return urgent ? nil : probeUp(load, current: current).map { ($0, false) }
        }
        // An unmeasured size is approached one step at a time (and watched after every batch).
        let target = urgent ? safe!.size : stepToward(best.size)
        guard target != batch else { return nil }
        let chosen = prediction(candidate(target, load), load)
        let why: DecisionReason
        if missedSLO {
            why = .sloMissed(size: batch, slo: config.latencySLO, to: target, prediction: chosen)
        } else if !current.feasible {
            why = .noLongerFits(size: batch, violation: violation(current), to: target, prediction: chosen)
        } else if smallerTie && !better {
            why = .smallerTie(to: target, size: batch, prediction: chosen)
        } else if config.policy == .slo {
            why = .highestWithinSLO(to: target, slo: config.latencySLO, prediction: chosen)
        } else {
            why = .highestKeepingUp(to: target, prediction: chosen)
        }
        return (Action(to: target, why: why), urgent || !better)
    }

    /// How much more throughput a move from the current size to `size` must promise: `config.gain`,
    /// or more where the two sizes' bottleneck costs are noisier than that (the measurements' usual
    /// deviation at each, added). Predictions that differ by less than their noise are not a reason to
    /// move: on a busy 2-core CPU the inference stage's cost strays by 10-20% from batch to batch, and
    /// B=1, 2 and 4 promising 247-277 frames/s in turn kept the size moving among them (lag p99 three
    /// times a fixed size's); a GPU's steady costs keep the plain 10%.
    func gainNeeded(_ size: Int) -> Double {
        func noise(_ b: Int) -> Double {
            guard let stage = cost.bottleneck(batch: b, parallelism: config.parallelism)?.stage else { return 0 }
            return cost.noise(stage: stage, batch: b) ?? 0
        }
        return max(config.gain, noise(size) + noise(batch))
    }

    /// Whether the arrivals take at most `config.light` of what `c`'s stage costs give.
    func isLight(_ c: Candidate, _ load: LoadSnapshot) -> Bool {
        guard let throughput = c.throughput, throughput > 0, load.arrivalRate > 0 else { return false }
        return load.arrivalRate <= config.light * throughput
    }

    /// At light load, the smallest measured size below the current one that keeps up with the same
    /// room (a dwell after the last change); nil to stay. A size remembered slower under overload
    /// counts too: at light load its throughput is not what matters.
    func lightLoadChoice(_ load: LoadSnapshot, current: Candidate, among measured: [Candidate]) -> Action? {
        guard load.time - lastChange >= config.dwell,
            let smaller = measured.filter({ $0.size < batch && isLight($0, load) })
                .min(by: { $0.size < $1.size })
        else { return nil }
        let why = DecisionReason.lightLoad(
            to: smaller.size, size: batch, arrivalRate: load.arrivalRate, prediction: prediction(smaller, load))
        return Action(to: smaller.size, why: why)
    }

    /// Tries the next size up when it was never measured and the current one keeps up: it may have
    /// more throughput, and if it falls behind it is ended before the queues fill. Each size is tried
    /// once; what it measured decides from then on.
    func probeUp(_ load: LoadSnapshot, current: Candidate) -> Action? {
        guard load.time - lastChange >= config.dwell, current.feasible, roomToTry(load),
            let next = config.sizes.first(where: { $0 > batch }), !cost.measuredSizes.contains(next),
            ledger.probed[next] == nil, ledger.slower[next] == nil, !plainlyWorse(next, than: batch, load)
        else { return nil }
        if config.policy == .slo, let p99 = load.latencyP99,
            p99 + Double(next - batch) / load.arrivalRate > config.latencySLO
        {
            return nil
        }
        // Memory measured at two sizes predicts the next: a probe that would not fit is not tried.
        guard candidate(next, load).fits else { return nil }
        return Action(to: next, why: .probeUp(to: next, size: batch), memo: .tried(next))
    }

    /// Tries the next size down when it was never measured (after a swap, the costs start from one
    /// size): smaller batches wait less, and what it measures tells whether it keeps up.
    func probeDown(_ load: LoadSnapshot, current: Candidate) -> Action? {
        guard load.time - lastChange >= config.dwell, current.feasible, roomToTry(load),
            let next = config.sizes.last(where: { $0 < batch }), !cost.measuredSizes.contains(next),
            cost.measuredSizes.count < 2, ledger.probed[next] == nil, ledger.slower[next] == nil
        else { return nil }
        return Action(to: next, why: .probeDown(to: next), memo: .tried(next))
    }

    // MARK: overload

    /// What to do under overload.
    enum OverloadChoice {
        /// Back to the size that delivered most, leaving this one (remembered slower).
        case back(Action)
        /// Try a neighbour.
        case probe(Action)
        /// Stay, shedding (said once, on entering the overload).
        case shed(Action)
    }

    /// Falling behind, as measured: shed (by the policy), learn what each size delivers, settle on
    /// the one that delivered most and come back to it, and try a neighbour only where it may pay.
    /// `trial` is the size on trial under overload, if any; `entering`, whether the overload begins.
    func overloadChoice(_ load: LoadSnapshot, trial: OverloadTrial?, entering: Bool) -> OverloadChoice? {
        // 1. Back to the size that delivered most. A size being tried must beat the one it left by
        // more than a tie; any other size goes back when another delivered more by more than a tie
        // (every frame per second it lacks is shed, but two sizes that deliver alike would trade
        // places on their measurements' noise, each move costing a transition: on one core, 5
        // cameras, B=1 and B=2 swapped five times in 16 s). One look may be a transition's: two,
        // unless it is plainly less.
        let fitting = config.sizes.compactMap { size in
            delivered(size, load).flatMap { candidate(size, load).fits ? (size: size, value: $0) : nil }
        }
        // The size to go back to, and what this one must deliver to stay.
        let back: (size: Int, value: Double, bar: Double)?
        if let trial, trial.size == batch, let before = delivered(trial.from, load) {
            back = (trial.from, before, before * (1 + config.tie))
        } else {
            back = fitting.filter { $0.size != batch }
                .max { $0.value < $1.value || ($0.value == $1.value && $0.size > $1.size) }
                .map { ($0.size, $0.value, $0.value / (1 + config.tie)) }
        }
        if load.time - lastChange >= 1, let here = delivered(batch, load), let top = back, top.bar >= here,
            (ledger.capacity[batch]?.count ?? 2) >= 2 || here < top.bar * (1 - config.plainlyWorse)
        {
            let why = DecisionReason.overloadBack(
                to: top.size, rate: top.value, size: batch, sizeRate: here, arrivalRate: load.arrivalRate,
                shed: config.shed)
            return .back(
                Action(to: top.size, why: why, skipEvery: skip(load, capacity: top.value), memo: .slower(batch)))
        }
        // 2. Try a neighbour never run under overload, once this size's delivery is known.
        if trial == nil, warmedUp(load), let here = delivered(batch, load), load.time - lastChange >= config.dwell / 2,
            let next = nextProbe(load)
        {
            let why = DecisionReason.overloadProbe(
                size: batch, rate: here, arrivalRate: load.arrivalRate, probing: next)
            return .probe(Action(to: next, why: why, skipEvery: skip(load, capacity: here), memo: .tried(next)))
        }
        // 3. Stay, shedding what the queues cannot hold.
        guard entering else { return nil }
        let current = candidate(batch, load)
        let why = DecisionReason.overloadShed(
            size: batch, arrivalRate: load.arrivalRate, queues: load.queues, shed: config.shed,
            prediction: prediction(current, load))
        return .shed(
            Action(
                to: batch, why: why, skipEvery: skip(load, capacity: delivered(batch, load) ?? current.throughput ?? 0)
            ))
    }

    // MARK: requests in flight

    /// Overloaded and settled at one batch size (nothing on trial): tries one more request in flight,
    /// and goes back when it did not raise the measured output rate by more than a tie. Where requests
    /// overlap (a GPU copying one batch while computing another) more in flight pays; on a CPU whose
    /// streams are all busy it does not, and the controller measures which.
    func requestsChoice(_ load: LoadSnapshot) -> Action? {
        guard case .overloaded = phase, config.maxRequests > 1, load.time - lastChange >= config.dwell,
            let here = ledger.requestCapacity[requests], here.count >= 2
        else { return nil }
        if let below = ledger.requestCapacity[requests - 1], ledger.probedRequests.contains(requests),
            here.value <= below.value * (1 + config.tie)
        {
            let to = requests - 1
            let why = DecisionReason.requestsBack(requests: requests, rate: here.value, to: to, toRate: below.value)
            return Action(to: batch, why: why, requests: to)
        }
        guard requests < config.maxRequests, !ledger.probedRequests.contains(requests + 1) else { return nil }
        let why = DecisionReason.requestsProbe(size: batch, requests: requests, rate: here.value, probing: requests + 1)
        return Action(to: batch, why: why, requests: requests + 1, memo: .triedRequests(requests + 1))
    }

    // MARK: aimd

    /// Clipper's baseline: one more while the p99 latency is within the SLO, a tenth less when over it.
    func aimdChoice(_ load: LoadSnapshot) -> Action? {
        guard let p99 = load.latencyP99, load.time - lastChange >= config.dwell / 2 else { return nil }
        let maxSize = config.sizes.last!
        let next: Int
        let why: DecisionReason
        if p99 > config.latencySLO {
            next = max(1, min(batch - 1, Int((Double(batch) * config.aimdDecrease).rounded(.down))))
            why = .aimdDecrease(p99: p99, slo: config.latencySLO)
        } else {
            next = min(maxSize, batch + 1)
            why = .aimdIncrease(p99: p99)
        }
        guard next != batch else { return nil }
        return Action(to: next, why: why)
    }
}
