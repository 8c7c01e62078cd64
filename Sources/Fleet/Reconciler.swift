/// What the fleet does to make every node match the desired state: a value, no I/O; the times are
/// given.
public enum Reconciler {
    public enum Action: Sendable, Equatable {
        /// Camera `camera` is now assigned to `node` (nil: to none), for `reason`.
        case assign(camera: String, node: String?, reason: String)
        /// Camera `camera` cannot be placed: `reason` (kept as its problem).
        case unplaced(camera: String, reason: String)
        /// Start camera `camera` on `node` (its spec, `POST /api/v1/streams`).
        case start(node: String, camera: String)
        /// Remove stream `stream` from `node` (`DELETE`), for `reason`.
        case stop(node: String, stream: String, reason: String)
        /// Switch `node`'s `model` from version `from` to `version`, the one the fleet assigns it.
        case serve(node: String, model: String, version: Int, from: Int)
    }

    /// The actions that bring `cameras` and the nodes of `board` together:
    /// - a camera asked for a node is assigned to it (it waits there while the node is down);
    /// - an `auto` camera with no node, a node no longer configured, or a node down for `failover`
    ///   seconds or more is placed by `Placement` among the nodes up (not its old one);
    /// - on each node up: what is assigned and not running starts (a camera its node refused
    ///   waits for a change), and a stream that is not assigned there stops (moved away while the
    ///   node was down, or added behind the fleet's back).
    public static func plan(cameras: [Camera], board: NodeBoard, failover: Double, now: Double) -> [Action] {
        var actions: [Action] = []
        var assigned: [String: String?] = [:]
        for camera in cameras { assigned[camera.id] = camera.node }
        func candidates(for model: String, excluding: String?) -> [Placement.Candidate] {
            board.nodes.values.filter { $0.state == .up && $0.name != excluding }.sorted { $0.name < $1.name }.map {
                node in
                let mine = cameras.filter { assigned[$0.id] == node.name }
                let running = Set(node.report?.streams.map(\.id) ?? [])
                let waiting = mine.filter { !running.contains($0.id) }.reduce(0) { $0 + $1.need }
                let loads = node.report?.models ?? [:]
                // The camera's own model's pipeline when it runs there; else the tightest of the
                // node's (they share its processor); unknown on a node that serves nothing.
                let headroom = loads[model]?.headroomFPS ?? loads.values.compactMap(\.headroomFPS).min()
                return Placement.Candidate(
                    name: node.name, headroom: headroom.map { $0 - waiting }, cameras: mine.count)
            }
        }
        for camera in cameras {
            if let pinned = camera.placement {
                if camera.node != pinned {
                    assigned[camera.id] = pinned
                    actions.append(.assign(camera: camera.id, node: pinned, reason: "asked for \(pinned)"))
                }
                continue
            }
            let current = camera.node
            let why: String?
            if let current {
                if board.nodes[current] == nil {
                    why = "its node \(current) is no longer in the fleet"
                } else if let down = board.downFor(current, now: now), down >= failover {
                    why = "its node \(current) has been down for \(Int(down)) s"
                } else {
                    why = nil
                }
            } else {
                why = "placed"
            }
            guard let why else { continue }
            switch Placement.choose(need: camera.need, among: candidates(for: camera.model, excluding: current)) {
            case .success(let node):
                assigned[camera.id] = node
                actions.append(.assign(camera: camera.id, node: node, reason: why))
            case .failure(let refusal):
                if camera.problem != refusal.description {
                    actions.append(.unplaced(camera: camera.id, reason: refusal.description))
                }
            }
        }
        for node in board.nodes.values.sorted(by: { $0.name < $1.name }) where node.state == .up {
            guard let report = node.report else { continue }
            let running = Set(report.streams.map(\.id))
            let mine = cameras.filter { assigned[$0.id] == node.name }
            for camera in mine where !running.contains(camera.id) && !camera.refused {
                actions.append(.start(node: node.name, camera: camera.id))
            }
            let wanted = Set(mine.map(\.id))
            for stream in report.streams.map(\.id).sorted() where !wanted.contains(stream) {
                let elsewhere = assigned[stream].flatMap { $0 }
                let reason =
                    elsewhere.map { "camera \(stream) runs on \($0) now" }
                    ?? "not in the fleet's desired state (added behind its back)"
                actions.append(.stop(node: node.name, stream: stream, reason: reason))
            }
        }
        return actions
    }

    /// The switches that bring every node up to the version of each model it serves that the
    /// rollouts assign it (`Assignments`): a node that restarted and loaded its latest, or one
    /// switched behind the fleet's back. Models with a rollout under way are left to it.
    public static func versions(board: NodeBoard, rollouts: [Rollout]) -> [Action] {
        var actions: [Action] = []
        for node in board.nodes.values.sorted(by: { $0.name < $1.name }) where node.state == .up {
            for (model, load) in (node.report?.models ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let served = load.version, !Assignments.rollingOut(model, rollouts: rollouts),
                    let wanted = Assignments.version(of: model, on: node.name, rollouts: rollouts), wanted != served
                else { continue }
                actions.append(.serve(node: node.name, model: model, version: wanted, from: served))
            }
        }
        return actions
    }
}
