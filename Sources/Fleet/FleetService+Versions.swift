import Core
import Foundation
import Logging
import ModelRegistry
import Synchronization

// The version each node serves: the one the rollouts assign it (`Assignments`), sent from the
// fleet's repository to a node that does not hold it.
extension FleetService {
    /// Version `version` of `model` from the fleet's repository, checked; nil without one.
    func repositoryVersion(_ model: String, _ version: Int) throws(FleetError) -> ModelVersion? {
        guard let root = config.repository else { return nil }
        do {
            return try ModelRepository(root: root).version(model, version)
        } catch {
            throw FleetError(error.code == .notFound ? .notFound : .invalid, "models.repository: \(error)")
        }
    }

    /// One model of the fleet's repository: its complete versions.
    public struct RepositoryModel: Sendable, Codable, Equatable {
        public var name: String
        public var versions: [Int]
    }

    /// The fleet's repository's models (empty without one); each sidecar read on the blocking
    /// executor.
    public func repositoryModels() async -> [RepositoryModel] {
        guard let root = config.repository else { return [] }
        return await BlockingExecutor.shared.run {
            guard let repository = try? ModelRepository(root: root) else { return [] }
            return repository.models().prefix(256).map {
                RepositoryModel(name: $0, versions: (try? repository.versions(of: $0)) ?? [])
            }
        }
    }

    /// Makes `node` hold version `version` of `model`: sent from the fleet's repository when the
    /// fleet has one and the node's own does not list it (`holds`, nil: unknown). Nil when it holds
    /// it (or the nodes share the repository), else why not.
    func provide(_ model: String, _ version: Int, to node: String, holds: [Int]?) async -> String? {
        guard config.repository != nil, holds?.contains(version) != true else { return nil }
        guard let client = clients.withLock({ $0[node] }) else { return "\(node) is no longer in the fleet" }
        let found: ModelVersion?
        do {
            found = try await BlockingExecutor.shared.run { () throws(FleetError) in
                try self.repositoryVersion(model, version)
            }
        } catch {
            return error.message
        }
        guard let found else { return nil }
        if let refusal = await client.upload(found) { return "sending version \(version) to \(node): \(refusal)" }
        note(.info, "\(model) version \(version) sent to \(node)")
        return nil
    }

    /// The versions of `model` that `node` was last seen to hold (nil: it does not serve it).
    func held(_ model: String, on node: String) -> [Int]? {
        board.withLock { $0.nodes[node]?.report?.models[model]?.versions }
    }

    /// The version of `model` the rollouts assign `node` (nil: the fleet has no say).
    func assigned(_ model: String, on node: String) -> Int? {
        guard let rollouts = try? store.rollouts() else { return nil }
        return Assignments.version(of: model, on: node, rollouts: rollouts)
    }

    /// Whether `node` should still be switched to `version` of `model`: no rollout of it under
    /// way, and that version still the one assigned.
    func stillAssigned(_ model: String, _ version: Int, on node: String) -> Bool {
        guard let rollouts = try? store.rollouts() else { return false }
        return !Assignments.rollingOut(model, rollouts: rollouts)
            && Assignments.version(of: model, on: node, rollouts: rollouts) == version
    }

    /// Before cameras start on `node`: their model loaded there at the version assigned, when the
    /// fleet has a say and the node does not serve the model yet (loaded first; sent, then loaded,
    /// when the node lacks it). Nil when ready, else why not.
    func prepare(_ model: String, on node: String) async -> String? {
        guard let version = assigned(model, on: node),
            board.withLock({ $0.nodes[node]?.report?.models[model]?.version == nil }),
            let client = clients.withLock({ $0[node] })
        else { return nil }
        switch await client.load(model, version: version) {
        case .loaded: break
        case .missing:
            // Sent only when the node lacks it (not after any failure: a version may be gigabytes).
            if let refusal = await provide(model, version, to: node, holds: nil) { return refusal }
            if case .failed(let refusal) = await client.load(model, version: version) {
                return "loading \(model) version \(version): \(refusal)"
            }
        case .failed(let refusal):
            return "loading \(model) version \(version): \(refusal)"
        }
        note(.info, "\(model) loaded on \(node) at version \(version), the one the fleet assigns")
        return nil
    }

    /// Switches the nodes that serve another version than the one assigned, each on a task of its
    /// own (a round does not wait for a model to compile), one at a time per node and model. A
    /// switch is tried again a minute later at the soonest, and given up after three tries for
    /// the same version (a node that does not keep it: its probation fails), said once.
    func switchVersions(_ actions: [Reconciler.Action]) {
        for case .serve(let node, let model, let version, let from) in actions {
            let key = node + "/" + model
            let verdict = switching.withLock { $0.begin(key, target: version, now: Clock.now) }
            switch verdict {
            case .wait: continue
            case .givenUp(let first):
                if first {
                    note(
                        .error,
                        "\(node) does not keep \(model) version \(version) (\(VersionSwitches.maxTries) switches): left on \(from)"
                    )
                }
                continue
            case .go: break
            }
            guard let client = clients.withLock({ $0[node] }) else {
                switching.withLock { $0.end(key) }
                continue
            }
            note(.warning, "\(node) serves \(model) version \(from); the fleet assigns version \(version): switching")
            let holds = held(model, on: node)
            Task {
                defer { self.switching.withLock { $0.end(key) } }
                if let refusal = await self.provide(model, version, to: node, holds: holds) {
                    self.note(.error, "\(node): \(refusal)")
                    return
                }
                // A rollout began meanwhile, or the assignment moved: it is theirs now.
                guard self.stillAssigned(model, version, on: node) else { return }
                if let refusal = await client.activate(model, version: version) {
                    self.note(.error, "\(node) could not switch \(model) to version \(version): \(refusal)")
                } else {
                    self.note(.notice, "\(node) serves \(model) version \(version) again")
                }
            }
        }
    }
}

/// The switches to assigned versions: those under way, and each one's last tries (for the same
/// version: spaced `retry` apart, at most `maxTries` within `forget` seconds; a node that takes
/// the version and drops it again a few rounds later counts the same). One entry per node and
/// model the fleet manages.
struct VersionSwitches: Sendable {
    static let retry = 60.0
    static let maxTries = 3
    /// Seconds after which a key's tries are forgotten.
    static let forget = 3600.0

    enum Verdict: Equatable {
        case go
        /// Under way, or tried less than `retry` ago.
        case wait
        /// Tried `maxTries` times for this version; `first`: the first time this is answered.
        case givenUp(first: Bool)
    }

    private struct Tries {
        var version: Int
        var at: Double
        var count: Int
        var reported = false
    }

    private var running: Set<String> = []
    private var tries: [String: Tries] = [:]

    mutating func begin(_ key: String, target version: Int, now: Double) -> Verdict {
        if running.contains(key) { return .wait }
        var t =
            tries[key].flatMap { $0.version == version ? $0 : nil } ?? Tries(version: version, at: -.infinity, count: 0)
        // Tries an hour apart are not one loop (a version switched by hand now and then).
        if t.count > 0, now - t.at > Self.forget { t = Tries(version: version, at: -.infinity, count: 0) }
        if t.count >= Self.maxTries {
            let first = !t.reported
            t.reported = true
            tries[key] = t
            return .givenUp(first: first)
        }
        if now - t.at < Self.retry { return .wait }
        t.at = now
        t.count += 1
        tries[key] = t
        running.insert(key)
        return .go
    }

    mutating func end(_ key: String) { running.remove(key) }
}
