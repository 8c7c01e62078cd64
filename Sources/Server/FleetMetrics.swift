import Fleet
import Foundation

/// The fleet's `/metrics` (Prometheus text): rendered from what it knows when asked, so nothing is
/// kept per node or camera that outlives them.
enum FleetMetrics {
    static func render(_ fleet: FleetService) -> String {
        let nodes = fleet.nodeViews()
        let cameras = (try? fleet.cameraViews()) ?? []
        var out = ""
        func family(_ name: String, _ help: String, _ rows: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (labels, value) in rows { out += "\(name)\(labels) \(value)\n" }
        }
        let label = { (key: String, value: String) in "{\(key)=\"\(escape(value))\"}" }
        family(
            "batchline_fleet_node_up", "Whether the node answers (1) or is down or not yet seen (0).",
            nodes.map { (label("node", $0.name), $0.state == .up ? 1 : 0) })
        family(
            "batchline_fleet_node_cameras", "Cameras assigned to the node.",
            nodes.map { node in (label("node", node.name), Double(cameras.filter { $0.node == node.name }.count)) })
        family(
            "batchline_fleet_node_headroom_fps",
            "Detector frames a second the node can still take (its tightest model's), once measured.",
            nodes.compactMap { n in n.headroom_fps.map { (label("node", n.name), $0) } })
        let states = ["running", "starting", "waiting", "unplaced", "refused"]
        let other = cameras.filter { !states.contains($0.state) }.count
        family(
            "batchline_fleet_cameras", "Cameras by state.",
            states.map { s in (label("state", s), Double(cameras.filter { $0.state == s }.count)) }
                + [(label("state", "other"), Double(other))])
        let rollouts = (try? fleet.rollouts()) ?? []
        let phases = ["shadowing", "observing", "waves", "done", "failed", "aborted"]
        family(
            "batchline_fleet_rollouts", "Rollouts kept, by phase.",
            phases.map { p in (label("phase", p), Double(rollouts.filter { $0.phase.rawValue == p }.count)) })
        family(
            "batchline_fleet_rollout_steps", "Steps of the rollouts under way.",
            rollouts.filter { !$0.phase.finished }.map { (label("rollout", $0.id), Double($0.steps.count)) })
        return out
    }

    /// A label value as the text format wants it.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
