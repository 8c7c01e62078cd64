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

    /// The fleet's repository's models (empty without one).
    public func repositoryModels() -> [RepositoryModel] {
        guard let root = config.repository, let repository = try? ModelRepository(root: root) else { return [] }
        return repository.models().prefix(256).map {
            RepositoryModel(name: $0, versions: (try? repository.versions(of: $0)) ?? [])
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
            found = try repositoryVersion(model, version)
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

    /// Before a camera starts on `node`: its model loaded there at the version assigned, when the
    /// fleet has a say and the node does not serve the model yet. Nil when ready, else why not.
    func prepare(_ camera: Camera, on node: String) async -> String? {
        let model = URL(fileURLWithPath: camera.model).lastPathComponent
        guard let version = assigned(model, on: node),
            board.withLock({ $0.nodes[node]?.report?.models[model]?.version == nil })
        else { return nil }
        if let refusal = await provide(model, version, to: node, holds: nil) { return refusal }
        guard let client = clients.withLock({ $0[node] }) else { return "\(node) is no longer in the fleet" }
        if let refusal = await client.load(model, version: version) {
            return "loading \(model) version \(version): \(refusal)"
        }
        note(.info, "\(model) loaded on \(node) at version \(version), the one the fleet assigns")
        return nil
    }

    /// Switches the nodes that serve another version than the one assigned (each switch on its
    /// own task: a round does not wait for a model to compile; one at a time per node and model;
    /// one that failed is tried again `VersionSwitches.retry` seconds later, not every round).
    func switchVersions(_ actions: [Reconciler.Action]) {
        for case .serve(let node, let model, let version, let from) in actions {
            let key = node + "/" + model
            guard switching.withLock({ $0.begin(key, now: Clock.now) }), let client = clients.withLock({ $0[node] })
            else { continue }
            note(.warning, "\(node) serves \(model) version \(from); the fleet assigns version \(version): switching")
            let holds = held(model, on: node)
            Task {
                var failure: String?
                if let refusal = await self.provide(model, version, to: node, holds: holds) {
                    failure = "\(node): \(refusal)"
                } else if let refusal = await client.activate(model, version: version) {
                    failure = "\(node) could not switch \(model) to version \(version): \(refusal)"
                }
                self.switching.withLock { $0.end(key, failed: failure != nil, now: Clock.now) }
                if let failure {
                    self.note(.error, "\(failure) (tried again in \(Int(VersionSwitches.retry)) s)")
                } else {
                    self.note(.notice, "\(node) serves \(model) version \(version) again")
                }
            }
        }
    }
}

/// The switches to assigned versions under way, and when each last failed: bounded by the nodes
/// and models the fleet manages (a key is kept only while it runs or after it failed).
struct VersionSwitches: Sendable {
    /// Seconds before a failed switch is tried again.
    static let retry = 60.0
    private var running: Set<String> = []
    private var failed: [String: Double] = [:]

    /// Whether `key` may start now (not running, not failed within `retry`); marks it running.
    mutating func begin(_ key: String, now: Double) -> Bool {
        if running.contains(key) { return false }
        if let at = failed[key], now - at < Self.retry { return false }
        running.insert(key)
        return true
    }

    mutating func end(_ key: String, failed didFail: Bool, now: Double) {
        running.remove(key)
        failed[key] = didFail ? now : nil
    }
}
