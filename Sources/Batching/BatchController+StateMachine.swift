extension BatchController {
    /// Where the controller stands: keeping up or falling behind (as measured), and whether the size
    /// running is on trial against the one it left. It changes only in `transition(_:)`, at a look:
    ///
    /// - `steady` -> `trying`: a size never measured is probed, or a move is made on the predictions
    ///   (from `trying` too: a move made during a trial puts the new size on trial).
    /// - `trying` -> `steady`: the trial ends, back to the size it left (its stage costs plainly worse,
    ///   or falling behind), or it has lasted a dwell.
    /// - `steady` -> `overloaded`: the pipeline falls behind, as measured.
    /// - `overloaded` -> `probingOverload`: a neighbour is tried, once this size's delivery is known.
    /// - `probingOverload` -> `overloaded`: the trial ends, the size that delivered most comes back, or
    ///   the trial has lasted a dwell and delivered.
    /// - `overloaded` -> `steady`, `probingOverload` -> `recovering`: the load fell, a dwell after the
    ///   last change.
    /// - `recovering` -> `probingOverload` when falling behind again with the trial going on, else as
    ///   `steady` once the trial ends or is over; -> `trying` when a size is chosen.
    ///
    /// A new model ends any trial; the overload stays until the measurements say otherwise. Under the
    /// aimd and fixed policies the phase stays as it is.
    public enum Phase: Sendable, Equatable {
        /// Keeping up at the current size; nothing on trial.
        case steady
        /// Keeping up; the current size is on trial (a size never measured, or a move made on the
        /// predictions): ended when the queues fall behind or its stage costs are plainly worse.
        case trying(Trial)
        /// Falling behind, as measured, at the current size since `since`: frames are shed.
        case overloaded(since: Double)
        /// Falling behind since `since`; the current size, a neighbour, is on trial: judged by what it
        /// puts out against what the size it left delivered.
        case probingOverload(OverloadTrial, since: Double)
        /// Keeping up again since the load fell, while a size tried under overload is still judged by
        /// what it puts out (until it has run a dwell and delivered).
        case recovering(OverloadTrial)

        /// Whether frames are being shed.
        public var overloaded: Bool {
            switch self {
            case .steady, .trying, .recovering: false
            case .overloaded, .probingOverload: true
            }
        }

        /// Whether a size is on trial.
        public var onTrial: Bool {
            switch self {
            case .steady, .overloaded: false
            case .trying, .probingOverload, .recovering: true
            }
        }

        /// The same phase with nothing on trial.
        var withoutTrial: Phase {
            switch self {
            case .steady, .trying, .recovering: .steady
            case .overloaded(let since), .probingOverload(_, let since): .overloaded(since: since)
            }
        }
    }

    /// A size on trial while the pipeline keeps up.
    public struct Trial: Sendable, Equatable {
        /// The size tried.
        public var size: Int
        /// The size it left, to go back to.
        public var from: Int
        /// When it began.
        public var start: Double
        /// Batches measured at `size` since.
        public var batches = 0
        /// Whether its stage costs were looked at already (or need not be: a move for latency or
        /// memory, not throughput, is judged by the queues alone).
        public var judged: Bool
        /// Frames waiting when it began: queues that grow past this say it falls behind.
        public var depthAtStart: Int
    }

    /// A size on trial under overload: judged by its own output rate from its first batch on.
    public struct OverloadTrial: Sendable, Equatable {
        /// The size tried.
        public var size: Int
        /// The size it left, to go back to.
        public var from: Int
        /// When it began.
        public var start: Double
        /// Batches measured at `size` since.
        public var batches = 0
        /// Whether what it put out was looked at already.
        public var judged = false
        /// When its first batch was seen, and the batches by then: its own output rate is counted
        /// from there.
        public var firstSeen: Mark?

        /// A moment in a trial: when, and how many batches it had run by then.
        public struct Mark: Sendable, Equatable {
            /// When.
            public var time: Double
            /// Batches run by then.
            public var batches: Int
        }
    }

    /// The phase, behind a setter that only this file can use.
    struct StateMachine: Sendable, Equatable {
        /// Where the controller stands.
        fileprivate(set) var phase: Phase = .steady
    }

    /// What the controller is told.
    enum Event {
        /// A batch of `size` finished, its stage costs recorded.
        case batchFinished(size: Int)
        /// A new model serves: a size on trial says nothing of it.
        case modelChanged
        /// A look at the load, with whether the measurements say the pipeline falls behind.
        case look(LoadSnapshot, behind: Bool)
    }

    /// What a look decided: the size to run (maybe the same), the requests in flight, why, and what
    /// the ledger keeps of it.
    struct Action: Sendable, Equatable {
        /// Batch size after.
        var to: Int
        /// Why.
        var why: DecisionReason
        /// 1 in k frames to skip (the `skip` policy, under overload).
        var skipEvery: Int?
        /// Requests in flight after, when they change.
        var requests: Int?
        /// What to remember.
        var memo: Memo?
    }

    /// The one place the phase changes: on each event, the next phase, and the decision made, if any.
    @discardableResult
    mutating func transition(_ event: Event) -> BatchDecision? {
        switch event {
        case .batchFinished(let size):
            switch phase {
            case .steady, .overloaded:
                break
            case .trying(var trial) where trial.size == size:
                trial.batches += 1
                machine.phase = .trying(trial)
            case .probingOverload(var trial, let since) where trial.size == size:
                trial.batches += 1
                machine.phase = .probingOverload(trial, since: since)
            case .recovering(var trial) where trial.size == size:
                trial.batches += 1
                machine.phase = .recovering(trial)
            case .trying, .probingOverload, .recovering:
                break
            }
            return nil
        case .modelChanged:
            machine.phase = phase.withoutTrial
            return nil
        case .look(let load, let behind):
            let action: Action?
            switch config.policy {
            case .fixed:
                return nil
            case .aimd:
                action = aimdChoice(load)
            case .realtime, .slo:
                let step = next(load, behind: behind)
                machine.phase = step.phase
                // Nothing to do for the size: the requests in flight may still change (`overloaded`).
                action = step.action ?? requestsChoice(load)
            }
            return action.map { perform($0, load) }
        }
    }

    /// The next phase and what to do, on a look under the realtime or slo policy. A size on trial is
    /// judged first; then, falling behind, the overload's choice; else the choice of a size that keeps up.
    func next(_ load: LoadSnapshot, behind: Bool) -> (phase: Phase, action: Action?) {
        guard load.arrivalRate > 0 else { return (phase, nil) }
        var phase = self.phase  // as the verdict on a trial leaves it
        switch phase {
        case .steady, .overloaded:
            break
        case .trying(let trial):
            switch judge(trial, load, behind: behind) {
            case .end(let action): return (.steady, action)
            case .pending(let trial): phase = .trying(trial)
            case .over: phase = .steady
            }
        case .probingOverload(let trial, let since):
            switch judge(trial, load) {
            case .end(let action): return (.overloaded(since: since), action)
            case .pending(let trial): phase = .probingOverload(trial, since: since)
            case .over: phase = .overloaded(since: since)
            }
        case .recovering(let trial):
            switch judge(trial, load) {
            case .end(let action): return (.steady, action)
            case .pending(let trial): phase = .recovering(trial)
            case .over: phase = .steady
            }
        }
        // Nothing measured at the current size yet.
        guard candidate(batch, load).throughput != nil else { return (phase, nil) }

        if behind {
            // (A size tried while keeping up is never on trial here: falling behind ended it.)
            let trial: OverloadTrial?
            let since: Double
            switch phase {
            case .steady, .trying: (trial, since) = (nil, load.time)
            case .recovering(let t): (trial, since) = (t, load.time)
            case .overloaded(let s): (trial, since) = (nil, s)
            case .probingOverload(let t, let s): (trial, since) = (t, s)
            }
            let overloaded = trial.map { Phase.probingOverload($0, since: since) } ?? .overloaded(since: since)
            switch overloadChoice(load, trial: trial, entering: !phase.overloaded) {
            case .back(let action)?:
                return (.overloaded(since: since), action)
            case .probe(let action)?:
                let trial = OverloadTrial(size: action.to, from: batch, start: load.time)
                return (.probingOverload(trial, since: since), action)
            case .shed(let action)?:
                return (overloaded, action)
            case nil:
                return (overloaded, nil)
            }
        }

        switch phase {
        case .overloaded(let since), .probingOverload(_, let since):
            // Out of overload only after a dwell: at capacity the queues fill and drain by turns,
            // and the state would flap with them.
            guard load.time - max(lastChange, since) >= config.dwell else { return (phase, nil) }
            let calm: Phase
            if case .probingOverload(let trial, _) = phase { calm = .recovering(trial) } else { calm = .steady }
            return (calm, Action(to: batch, why: .loadFell(size: batch)))
        case .steady, .trying, .recovering:
            guard load.time >= quietUntil, let choice = keepingUpChoice(load) else { return (phase, nil) }
            // Every move is tried like a probe: ended if it falls behind, or, made for throughput, if
            // its costs are plainly worse.
            let trial = Trial(
                size: choice.action.to, from: batch, start: load.time, judged: choice.judged,
                depthAtStart: load.queueDepth)
            return (.trying(trial), choice.action)
        }
    }

    /// A trial's verdict at a look.
    enum Verdict<T> {
        /// Ended: back to the size it left.
        case end(Action)
        /// Still on trial (as updated).
        case pending(T)
        /// Over: from now on its size is judged like any other.
        case over
    }

    /// A size tried while keeping up is ended as soon as the evidence is in: its stage costs plainly
    /// worse than the size it left (after a few batches), or the queues falling behind.
    func judge(_ trial: Trial, _ load: LoadSnapshot, behind: Bool) -> Verdict<Trial> {
        guard trial.size == batch else { return .over }
        var trial = trial
        // Its stage costs against the size it left (its output is the arrivals).
        if !trial.judged, trial.batches >= config.probeLook, load.time - trial.start >= config.probeSeconds {
            trial.judged = true
            if plainlyWorse(batch, than: trial.from, load) {
                let there = candidate(batch, load).throughput ?? 0
                let here = candidate(trial.from, load).throughput ?? 0
                return .end(
                    ending(
                        trial.from,
                        .trialCostsLess(
                            size: batch, batches: trial.batches, rate: there, from: trial.from, fromRate: here)))
            }
        }
        // Losing ground: the queues grew by more than the batch being filled and an eighth of their
        // room since it began.
        let grew =
            load.queueCapacity.map { load.queueDepth > trial.depthAtStart + batch + max(1, $0 / 8) } ?? false
        if behind || grew {
            return .end(
                ending(
                    trial.from,
                    .trialFellBehind(size: batch, arrivalRate: load.arrivalRate, queues: load.queues, from: trial.from)
                ))
        }
        // Long enough without either: from now on it is judged like any other size.
        return load.time - trial.start >= config.dwell ? .over : .pending(trial)
    }

    /// A size tried under overload (its queues full, so what it puts out is what it can do) is ended
    /// when its own output rate since its first batch is plainly less than what the size it left delivered.
    func judge(_ trial: OverloadTrial, _ load: LoadSnapshot) -> Verdict<OverloadTrial> {
        guard trial.size == batch else { return .over }
        var trial = trial
        if trial.firstSeen == nil && trial.batches >= 1 {
            trial.firstSeen = OverloadTrial.Mark(time: load.time, batches: trial.batches)
        }
        if !trial.judged, let first = trial.firstSeen, trial.batches - first.batches >= config.probeLook,
            load.time - first.time >= config.probeSeconds
        {
            trial.judged = true
            let rate = Double((trial.batches - first.batches) * batch) / (load.time - first.time)
            if let before = delivered(trial.from, load), rate < before * (1 - config.plainlyWorse) {
                return .end(
                    ending(
                        trial.from,
                        .trialPutOutLess(
                            size: batch, batches: trial.batches, rate: rate, from: trial.from, fromRate: before)))
            }
        }
        // Long enough, and what it delivered known: from now on it is judged like any other size.
        return load.time - trial.start >= config.dwell && delivered(batch, load) != nil ? .over : .pending(trial)
    }

    /// Ends the trial of the current size, remembered slower: back to `from`.
    private func ending(_ from: Int, _ why: DecisionReason) -> Action {
        Action(to: from, why: why, memo: .slower(batch))
    }
}
