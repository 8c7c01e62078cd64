import Core
import Foundation
import Logging
import Synchronization

// Rollouts: a version judged on a canary's own frames, served there and watched, then wave by wave.
extension FleetService {
    /// Starts a rollout from `body`: `{"model", "version", "canary", "wave_size", "frames", "every_ms",
    /// "min_agreement", "observe_s"}` (model and version needed). The nodes are those up that serve
    /// the model; the canary is the one named, else the one with the most headroom.
    public func startRollout(json body: Data) throws(FleetError) -> Rollout {
        guard body.count <= 4096, let o = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw FleetError(.invalid, "the body must be a JSON object of at most 4 KiB")
        }
        let known: Set<String> = [
            "model", "version", "canary", "wave_size", "frames", "every_ms", "min_agreement", "observe_s",
            "lag_margin", "shed_margin_fps",
        ]
        if let key = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw FleetError(.invalid, "\(key): unknown key (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let model = o["model"] as? String, !model.isEmpty, model.count <= 64 else {
            throw FleetError(.invalid, "model: missing")
        }
        guard let version = o["version"] as? Int, version >= 0 else { throw FleetError(.invalid, "version: missing") }
        // From the fleet's repository when it has one: there, and complete, before any node hears of it.
        _ = try repositoryVersion(model, version)
        var gate = Rollout.Gate()
        func number(_ key: String, _ range: ClosedRange<Double>) throws(FleetError) -> Double? {
            guard let value = o[key] else { return nil }
            guard let n = value as? Double, range.contains(n) else {
                throw FleetError(.invalid, "\(key): must be within \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
        gate.frames = try number("frames", 1...1000).map { Int($0) } ?? gate.frames
        gate.everyMs = try number("every_ms", 100...60_000).map { Int($0) } ?? gate.everyMs
        gate.minAgreement = try number("min_agreement", 0...1) ?? gate.minAgreement
        // At least 15 s: the lag is judged over the last 10 s, after the switch's own moment.
        gate.observeSeconds = try number("observe_s", 15...3600) ?? gate.observeSeconds
        gate.lagMargin = try number("lag_margin", 0...100) ?? gate.lagMargin
        gate.shedMargin = try number("shed_margin_fps", 0...10_000) ?? gate.shedMargin
        let waveSize = try number("wave_size", 1...256).map { Int($0) } ?? 1
        // Every node up with the model loaded is switched; the canary must run cameras on it (its
        // shadow run needs their frames).
        let serving = board.withLock { b in
            b.nodes.values.filter { $0.state == .up && $0.report?.models[model] != nil }.map { n in
                (
                    name: n.name, headroom: n.report?.models[model]?.headroomFPS ?? 0,
                    cameras: n.report?.streams.contains { Self.sameModel($0.model, model) } ?? false
                )
            }
        }
        guard !serving.isEmpty else { throw FleetError(.unavailable, "no node up serves \(model)") }
        let watched = serving.filter(\.cameras)
        guard !watched.isEmpty else {
            throw FleetError(.unavailable, "no node up runs a camera on \(model): a shadow run needs their frames")
        }
        let canary: String
        if let named = o["canary"] {
            guard let name = named as? String, watched.contains(where: { $0.name == name }) else {
                let names = watched.map(\.name).sorted().joined(separator: ", ")
                throw FleetError(.invalid, "canary: must be a node up running cameras on \(model) (\(names))")
            }
            canary = name
        } else {
            canary = watched.max { ($0.headroom, $1.name) < ($1.headroom, $0.name) }!.name
        }
        if try store.rollouts().contains(where: { $0.model == model && !$0.phase.finished }) {
            throw FleetError(.exists, "a rollout of \(model) is under way: let it finish or abort it")
        }
        let now = Date().timeIntervalSince1970
        var rollout = Rollout(
            id: "rollout-" + String(Int(now * 1000), radix: 36), model: model, version: version, canary: canary,
            waves: RolloutGates.waves(serving.map(\.name).filter { $0 != canary }, size: waveSize), gate: gate,
            phase: .shadowing, before: [:], created: now)
        rollout.step("begun: \(model) version \(version), canary \(canary), then \(rollout.waves)", at: now)
        try store.save(rollout)
        note(.notice, "rollout \(rollout.id): \(model) version \(version), canary \(canary)")
        kick()
        return rollout
    }

    /// Halts rollout `id`: what had switched goes back to the version before.
    public func abortRollout(_ id: String) async throws(FleetError) -> Rollout {
        guard var rollout = try store.rollouts().first(where: { $0.id == id }) else {
            throw FleetError(.notFound, "no rollout '\(id)'")
        }
        guard !rollout.phase.finished else { throw FleetError(.exists, "rollout \(id) is \(rollout.phase.rawValue)") }
        await rollBack(&rollout, why: "aborted by hand")
        rollout.phase = .aborted
        try store.save(rollout)
        return rollout
    }

    /// Every rollout, oldest first; one by id.
    public func rollouts() throws(FleetError) -> [Rollout] { try store.rollouts() }

    public func rollout(_ id: String) throws(FleetError) -> Rollout {
        guard let r = try store.rollouts().first(where: { $0.id == id }) else {
            throw FleetError(.notFound, "no rollout '\(id)'")
        }
        return r
    }

    /// One step of every rollout under way (each round).
    func advanceRollouts() async {
        guard let all = try? store.rollouts() else { return }
        for var rollout in all where !rollout.phase.finished {
            await advance(&rollout)
            do {
                // Not over an abort that came meanwhile.
                if let stored = try store.rollouts().first(where: { $0.id == rollout.id }), stored.phase.finished {
                    continue
                }
                try store.save(rollout)
            } catch {
                note(.error, "rollout \(rollout.id) could not be saved: \(error)")
            }
        }
    }

    private func advance(_ r: inout Rollout) async {
        let now = Date().timeIntervalSince1970
        guard let canary = clients.withLock({ $0[r.canary] }) else {
            fail(&r, "the canary \(r.canary) is no longer in the fleet", at: now)
            return
        }
        switch r.phase {
        case .shadowing:
            if !r.shadowStarted {
                if r.before.isEmpty { await recordVersions(&r) }
                if let refusal = await provide(r.model, r.version, to: r.canary, holds: held(r.model, on: r.canary)) {
                    fail(&r, refusal, at: now)
                    return
                }
                r.shadowBaseline = try? await canary.figures()
                if let refusal = await canary.startShadow(r.model, version: r.version, gate: r.gate) {
                    fail(&r, "shadow on \(r.canary) refused: \(refusal)", at: now)
                    return
                }
                r.shadowStarted = true
                r.step(
                    "shadow started: \(r.gate.frames) frames, one every \(r.gate.everyMs) ms", node: r.canary, at: now)
                return
            }
            if let began = r.shadowBaseline?.time, Clock.now - began > Self.shadowLimit(r.gate) {
                let frames = (try? await canary.shadowFigures(r.model))?.frames ?? 0
                let limit = Int(Self.shadowLimit(r.gate))
                fail(&r, "shadow on \(r.canary) compared \(frames) of \(r.gate.frames) frames in \(limit) s", at: now)
                return
            }
            guard let s = try? await canary.shadowFigures(r.model) else { return }
            guard
                let verdict = RolloutGates.shadow(
                    state: s.state, agreement: s.agreement, frames: s.frames, reason: s.reason, gate: r.gate)
            else { return }
            r.step(verdict.why, node: r.canary, at: now)
            guard verdict.pass else {
                fail(&r, verdict.why, at: now)
                return
            }
            r.baseline = try? await canary.figures()
            if let refusal = await canary.activate(r.model, version: r.version) {
                fail(&r, "the canary \(r.canary) could not switch: \(refusal)", at: now)
                return
            }
            r.switched = [r.canary]
            r.observingSince = Clock.now
            r.phase = .observing
            r.step("serving version \(r.version); watched for \(Int(r.gate.observeSeconds)) s", node: r.canary, at: now)
        case .observing:
            guard let since = r.observingSince, Clock.now - since >= r.gate.observeSeconds else { return }
            guard let figures = try? await canary.figures(), let baseline = r.baseline else { return }
            if let serving = try? await canary.servedVersion(r.model), serving != r.version {
                await rollBack(&r, why: "the canary went back to version \(serving) on its own")
                fail(&r, "the canary went back to version \(serving) on its own (its probation failed)", at: now)
                return
            }
            var before = 0.0
            if let start = r.shadowBaseline, baseline.time > start.time {
                before = Double(max(0, baseline.shed - start.shed)) / (baseline.time - start.time)
            }
            let verdict = RolloutGates.observation(baseline: baseline, now: figures, shedBefore: before, gate: r.gate)
            r.step(verdict.why, node: r.canary, at: now)
            guard verdict.pass else {
                await rollBack(&r, why: verdict.why)
                fail(&r, "the canary's figures got worse: \(verdict.why); rolled back", at: now)
                return
            }
            r.phase = r.waves.isEmpty ? .done : .waves
            if r.phase == .done { r.step("done", at: now) }
        case .waves:
            guard r.wave < r.waves.count else {
                r.phase = .done
                return
            }
            for node in r.waves[r.wave] {
                guard let client = clients.withLock({ $0[node] }) else { continue }
                // A node that cannot take it halts the rollout, and what switched goes back: the
                // fleet then serves one version, the one before.
                var refusal = await provide(r.model, r.version, to: node, holds: held(r.model, on: node))
                if refusal == nil { refusal = await client.activate(r.model, version: r.version) }
                if let refusal {
                    await rollBack(&r, why: "\(node) could not switch: \(refusal)")
                    fail(&r, "\(node) could not switch: \(refusal); rolled back", at: now)
                    return
                }
                r.switched.append(node)
                r.step("serving version \(r.version)", node: node, at: now)
            }
            r.wave += 1
            if r.wave == r.waves.count {
                r.phase = .done
                r.step("done: every node serves version \(r.version)", at: now)
            }
        case .done, .failed, .aborted:
            return
        }
    }

    /// Whether a stream's model (a name or a path) is `model`.
    static func sameModel(_ given: String, _ model: String) -> Bool {
        Camera.modelName(given) == model
    }

    /// Seconds a shadow run may take before the rollout gives up on it: four times what its frames
    /// should take, a minute at least (a canary whose cameras went quiet gives no frames).
    static func shadowLimit(_ gate: Rollout.Gate) -> Double {
        max(60, Double(gate.frames * gate.everyMs) / 1000 * 4)
    }

    /// Each node's version now (what a rollback returns to).
    private func recordVersions(_ r: inout Rollout) async {
        for node in [r.canary] + r.waves.flatMap({ $0 }) {
            guard let client = clients.withLock({ $0[node] }) else { continue }
            if let v = try? await client.servedVersion(r.model) { r.before[node] = v }
        }
    }

    /// Every node that switched goes back to the version before it.
    private func rollBack(_ r: inout Rollout, why: String) async {
        let now = Date().timeIntervalSince1970
        for node in r.switched.reversed() {
            guard let client = clients.withLock({ $0[node] }) else { continue }
            let target = r.before[node]
            let refusal: String?
            if let target {
                refusal = await client.activate(r.model, version: target)
            } else {
                refusal = await client.rollback(r.model)
            }
            r.step(
                refusal.map { "could not go back: \($0)" } ?? "back on version \(target.map(String.init) ?? "before")",
                node: node, at: now)
        }
        r.switched = []
        note(.warning, "rollout \(r.id) rolled back: \(why)")
    }

    private func fail(_ r: inout Rollout, _ why: String, at now: Double) {
        r.phase = .failed
        r.reason = why
        r.step("halted: \(why)", at: now)
        note(.error, "rollout \(r.id) halted: \(why)")
    }
}
