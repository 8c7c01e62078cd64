/// Which version of a model each node should serve, read from the rollouts: a value, no I/O.
///
/// The fleet has no say over a model it never rolled out (each node serves what it loads). Once a
/// rollout of it is `done`, every node serves its version; one that `failed` or was `aborted` keeps
/// the version before it (the canary's), so that a node that restarts and loads its latest does
/// not come back on the version that was refused. While one is under way, the nodes it switched
/// serve its version and the others the version before.
public enum Assignments {
    /// The version of `model` that `node` should serve; nil: the fleet has no say.
    public static func version(of model: String, on node: String, rollouts: [Rollout]) -> Int? {
        var fleet: Int?
        // Before any rollout is done: each node's version before a refused one (the canary's for
        // a node it did not know).
        var kept: [String: Int] = [:]
        var fallback: Int?
        for r in rollouts.filter({ $0.model == model }).sorted(by: { $0.created < $1.created }) {
            switch r.phase {
            case .done:
                fleet = r.version
            case .failed, .aborted:
                guard fleet == nil else { continue }
                kept.merge(r.before) { old, _ in old }
                fallback = fallback ?? r.before[r.canary]
            case .shadowing, .observing, .waves:
                if r.switched.contains(node) { return r.version }
                return fleet ?? r.before[node] ?? kept[node] ?? fallback
            }
        }
        return fleet ?? kept[node] ?? fallback
    }

    /// Whether a rollout of `model` is under way (its own loop switches the nodes meanwhile).
    public static func rollingOut(_ model: String, rollouts: [Rollout]) -> Bool {
        rollouts.contains { $0.model == model && !$0.phase.finished }
    }
}
