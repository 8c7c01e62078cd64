import Foundation
import Testing

@testable import Fleet

/// The fleet's decisions as values: nodes up and down, placement by headroom, and the plan that
/// makes the nodes match the desired state.
@Suite("Fleet decisions: node states, placement, reconciliation")
struct FleetDecisionTests {
    static let nodes = ["a", "b", "c"].map { FleetConfig.Node(name: $0, url: "http://127.0.0.1:1", tokenFile: nil) }

    static func report(_ streams: [String], headroom: Double?, model: String = "det") -> NodeReport {
        NodeReport(
            streams: streams.map { .init(id: $0, state: "running", fps: 10, model: model) },
            models: headroom == nil && streams.isEmpty
                ? [:] : [model: .init(capacityFPS: headroom.map { $0 + 10 }, servedFPS: 10, headroomFPS: headroom)])
    }

    static func camera(_ id: String, need: Double = 10, placement: String? = nil, node: String? = nil) -> Camera {
        Camera(id: id, spec: Data(#"{"id":"\#(id)"}"#.utf8), model: "det", need: need, placement: placement, node: node)
    }

    @Test(
        "A node is up when it answers, down after downAfter seconds of silence (from the start too), up again at its next answer"
    )
    func upAndDown() {
        var board = NodeBoard(nodes: Self.nodes, downAfter: 6, now: 0)
        #expect(board.answered("a", Self.report([], headroom: nil), at: 1) == .up)
        #expect(board.failed("b", "refused", at: 5) == nil && board.nodes["b"]?.state == .unknown)
        #expect(board.failed("b", "refused", at: 6) == .down)
        #expect(board.failed("a", "timed out", at: 6) == nil && board.nodes["a"]?.state == .up)
        #expect(board.failed("a", "timed out", at: 7) == .down && board.nodes["a"]?.lastError == "timed out")
        #expect(board.downFor("a", now: 37) == 30)
        #expect(
            board.answered("a", Self.report([], headroom: nil), at: 40) == .up && board.downFor("a", now: 41) == nil)
    }

    @Test(
        "Placement takes the most headroom that covers the need, an empty unmeasured node first; refuses with the reason"
    )
    func placement() {
        let c = { (n: String, h: Double?, k: Int) in Placement.Candidate(name: n, headroom: h, cameras: k) }
        #expect(Placement.choose(need: 10, among: [c("a", 30, 2), c("b", 50, 3)]) == .success("b"))
        #expect(Placement.choose(need: 10, among: [c("a", 30, 2), c("b", nil, 0)]) == .success("b"))
        // A full node gets none.
        #expect(Placement.choose(need: 10, among: [c("a", 4, 2), c("b", 12, 3)]) == .success("b"))
        #expect(
            Placement.choose(need: 20, among: [c("a", 4, 2), c("b", 12, 3)])
                == .failure(.noRoom(needed: 20, best: "b", headroom: 12)))
        #expect(Placement.choose(need: 1, among: []) == .failure(.noNodeUp))
        #expect(Placement.choose(need: 1, among: [c("a", nil, 1)]) == .failure(.notMeasured))
    }

    @Test("Cameras spread over empty nodes, each assigned once; then started where they are assigned")
    func spreadAndStart() {
        var board = NodeBoard(nodes: Self.nodes, downAfter: 6, now: 0)
        for n in ["a", "b", "c"] { board.answered(n, Self.report([], headroom: nil), at: 1) }
        let cameras = ["x", "y", "z"].map { Self.camera($0) }
        let plan = Reconciler.plan(cameras: cameras, board: board, failover: 30, now: 2)
        let placed = plan.compactMap { a -> String? in
            if case .assign(_, let node?, _) = a { return node } else { return nil }
        }
        #expect(placed.sorted() == ["a", "b", "c"], "\(plan)")
        #expect(plan.filter { if case .start = $0 { true } else { false } }.count == 3)
    }

    @Test(
        "A node down past failover has its auto cameras moved to one with room; back, the moved stream is stopped there; a stream added behind the fleet's back is stopped"
    )
    func failoverAndDrift() {
        var board = NodeBoard(nodes: Self.nodes, downAfter: 6, now: 0)
        board.answered("a", Self.report(["x"], headroom: 40), at: 1)
        board.answered("b", Self.report(["y"], headroom: 5), at: 1)
        board.answered("c", Self.report(["z", "stray"], headroom: 30), at: 1)
        var cameras = [
            Self.camera("x", node: "a"), Self.camera("y", node: "b"), Self.camera("z", node: "c"),
            Self.camera("p", placement: "a", node: "a"),
        ]
        // Only the stray is out of place; p (pinned to a) starts there.
        #expect(
            Reconciler.plan(cameras: cameras, board: board, failover: 30, now: 2) == [
                .start(node: "a", camera: "p"),
                .stop(node: "c", stream: "stray", reason: "not in the fleet's desired state (added behind its back)"),
            ])
        board.failed("a", "refused", at: 8)
        // Down, not yet past failover: nothing moves.
        #expect(
            Reconciler.plan(cameras: cameras, board: board, failover: 30, now: 20).allSatisfy {
                if case .assign = $0 { false } else { true }
            })
        // Past failover: x moves to c (b is nearly full); p, pinned, waits for a.
        let moved = Reconciler.plan(cameras: cameras, board: board, failover: 30, now: 40)
        #expect(moved.contains(.assign(camera: "x", node: "c", reason: "its node a has been down for 32 s")))
        #expect(moved.contains(.start(node: "c", camera: "x")))
        #expect(!moved.contains { if case .assign("p", _, _) = $0 { true } else { false } })
        // a comes back still running x: x is stopped there.
        cameras[0].node = "c"
        board.answered("a", Self.report(["x"], headroom: 40), at: 50)
        let back = Reconciler.plan(cameras: cameras, board: board, failover: 30, now: 50)
        #expect(back.contains(.stop(node: "a", stream: "x", reason: "camera x runs on c now")))
    }

    @Test("No room anywhere: the camera stays unplaced with the reason, said once")
    func unplaced() {
        var board = NodeBoard(nodes: Self.nodes, downAfter: 6, now: 0)
        for n in ["a", "b", "c"] { board.answered(n, Self.report(["s-\(n)"], headroom: 3), at: 1) }
        var camera = Self.camera("big", need: 25)
        let plan = Reconciler.plan(cameras: [camera], board: board, failover: 30, now: 2)
        let reason = Placement.Refusal.noRoom(needed: 25, best: "a", headroom: 3).description
        #expect(plan.first == .unplaced(camera: "big", reason: reason), "\(plan)")
        camera.problem = reason
        #expect(
            !Reconciler.plan(cameras: [camera], board: board, failover: 30, now: 3).contains {
                if case .unplaced = $0 { true } else { false }
            })
    }

    @Test("A camera request: a stream spec plus node and fps, unknown keys and unknown nodes refused with the key")
    func cameraRequests() throws {
        let nodes: Set<String> = ["a", "b"]
        let ok = try CameraRequest(
            json: Data(#"{"id":"door","source":"rtsp://h/x","model":"det","node":"b","fps":30,"infer_every":3}"#.utf8),
            nodes: nodes
        ).camera
        #expect(ok.id == "door" && ok.placement == "b" && ok.need == 10 && ok.model == "det")
        let spec = try JSONSerialization.jsonObject(with: ok.spec) as? [String: Any]
        #expect(spec?["node"] == nil && spec?["fps"] == nil && spec?["infer_every"] as? Int == 3)
        let auto = try CameraRequest(
            json: Data(#"{"source":"rtsp://h/x","model":"det","node":"auto"}"#.utf8), nodes: nodes)
        #expect(auto.camera.placement == nil && auto.camera.id.hasPrefix("cam-") && auto.camera.need == 25)
        for (body, words) in [
            (#"{"source":"s","model":"m","nodes":"a"}"#, "nodes: unknown key"),
            (#"{"source":"s","model":"m","node":"z"}"#, "node: no node 'z'"),
            (#"{"model":"m"}"#, "source: missing"),
            (#"{"id":"../x","source":"s","model":"m"}"#, "id: must be"),
            (#"{"source":"s","model":"m","fps":0}"#, "fps: must be within"),
            ("[1]", "JSON object"),
        ] {
            #expect(throws: CameraProblem.self) { try CameraRequest(json: Data(body.utf8), nodes: nodes) }
            do {
                _ = try CameraRequest(json: Data(body.utf8), nodes: nodes)
            } catch {
                #expect(error.description.contains(words), "\(body): \(error)")
            }
        }
    }

    @Test(
        "Rollout gates: the shadow verdict waits for its run, then passes at the least agreement; the watched canary fails on lag or shedding past the margins"
    )
    func rolloutGates() {
        let gate = Rollout.Gate()
        #expect(RolloutGates.shadow(state: "running", agreement: 0.5, frames: 3, reason: nil, gate: gate) == nil)
        #expect(RolloutGates.shadow(state: "done", agreement: 0.97, frames: 50, reason: nil, gate: gate)?.pass == true)
        #expect(RolloutGates.shadow(state: "done", agreement: 0.91, frames: 50, reason: nil, gate: gate)?.pass == false)
        #expect(RolloutGates.shadow(state: "done", agreement: nil, frames: 50, reason: nil, gate: gate)?.pass == false)
        let failed = RolloutGates.shadow(
            state: "failed", agreement: nil, frames: 0, reason: "cannot be loaded", gate: gate)
        #expect(failed?.pass == false && failed?.why.contains("cannot be loaded") == true)

        let before = Rollout.Figures(shed: 10, lagP99: 100, time: 0)
        let fine = Rollout.Figures(shed: 12, lagP99: 180, time: 30)
        #expect(RolloutGates.observation(baseline: before, now: fine, shedBefore: 0, gate: gate).pass)
        let slow = Rollout.Figures(shed: 10, lagP99: 260, time: 30)
        #expect(!RolloutGates.observation(baseline: before, now: slow, shedBefore: 0, gate: gate).pass)
        let shedding = Rollout.Figures(shed: 70, lagP99: 100, time: 30)
        #expect(!RolloutGates.observation(baseline: before, now: shedding, shedBefore: 0, gate: gate).pass)
        #expect(RolloutGates.observation(baseline: before, now: shedding, shedBefore: 2, gate: gate).pass)
        #expect(RolloutGates.waves(["c", "a", "b", "d", "e"], size: 2) == [["a", "b"], ["c", "d"], ["e"]])
    }

    static func rollout(
        _ version: Int, _ phase: Rollout.Phase, switched: [String] = [], before: [String: Int] = [:], at created: Double
    ) -> Rollout {
        var r = Rollout(
            id: "r\(created)", model: "det", version: version, canary: "a", waves: [["b"], ["c"]], gate: .init(),
            phase: phase, before: before, created: created)
        r.switched = switched
        return r
    }

    @Test(
        "Assigned versions: none before any rollout; a done rollout's version everywhere; a refused one keeps the version before; one under way splits the nodes"
    )
    func assignments() {
        #expect(Reconciler.versions(board: NodeBoard(nodes: Self.nodes, downAfter: 6, now: 0), rollouts: []).isEmpty)
        #expect(Assignments.version(of: "det", on: "a", rollouts: []) == nil)
        let done = Self.rollout(2, .done, switched: ["a", "b", "c"], before: ["a": 1, "b": 1, "c": 1], at: 1)
        #expect(["a", "b", "c"].map { Assignments.version(of: "det", on: $0, rollouts: [done]) } == [2, 2, 2])
        #expect(Assignments.version(of: "other", on: "a", rollouts: [done]) == nil)
        // v3 refused at the canary: everyone stays on 2 (a node that restarts and loads 3 goes back).
        let failed = Self.rollout(3, .failed, before: ["a": 2, "b": 2, "c": 2], at: 2)
        #expect(Assignments.version(of: "det", on: "b", rollouts: [done, failed]) == 2)
        // A first rollout refused: each node keeps its version before it (the canary's for one it did not know).
        let refused = Self.rollout(3, .aborted, before: ["a": 1, "b": 2], at: 0)
        #expect(["a", "b", "c"].map { Assignments.version(of: "det", on: $0, rollouts: [refused]) } == [1, 2, 1])
        // Under way: what switched serves 4, the rest 2; the plan leaves the model to the rollout.
        let going = Self.rollout(4, .waves, switched: ["a", "b"], before: ["a": 2, "b": 2, "c": 2], at: 3)
        let all = [failed, going, done]
        #expect(["a", "b", "c"].map { Assignments.version(of: "det", on: $0, rollouts: all) } == [4, 4, 2])
        #expect(Assignments.rollingOut("det", rollouts: all) && !Assignments.rollingOut("det", rollouts: [done]))

        var board = NodeBoard(nodes: Self.nodes, downAfter: 6, now: 0)
        for (name, version) in [("a", 2), ("b", 3), ("c", 2)] {
            var report = Self.report(["s-\(name)"], headroom: 50)
            report.models["det"]?.version = version
            _ = board.answered(name, report, at: 1)
        }
        // b restarted and loaded its latest (3): switched back to 2; the others are as assigned.
        #expect(
            Reconciler.versions(board: board, rollouts: [done, failed])
                == [.serve(node: "b", model: "det", version: 2, from: 3)])
        #expect(Reconciler.versions(board: board, rollouts: [done, failed, going]).isEmpty)
        #expect(Reconciler.versions(board: board, rollouts: []).isEmpty)
    }

    @Test(
        "Switches to an assigned version: one at a time, a minute apart, given up (said once) after three tries for one version, forgotten after an hour; another version starts afresh"
    )
    func versionSwitches() {
        var s = VersionSwitches()
        #expect(s.begin("a/det", target: 2, now: 0) == .go)
        #expect(s.begin("a/det", target: 2, now: 1) == .wait)
        s.end("a/det")
        #expect(s.begin("a/det", target: 2, now: 30) == .wait)
        #expect(s.begin("a/det", target: 2, now: 61) == .go)
        s.end("a/det")
        #expect(s.begin("a/det", target: 2, now: 122) == .go)
        s.end("a/det")
        #expect(s.begin("a/det", target: 2, now: 200) == .givenUp(first: true))
        #expect(s.begin("a/det", target: 2, now: 300) == .givenUp(first: false))
        #expect(s.begin("b/det", target: 2, now: 300) == .go)
        #expect(s.begin("a/det", target: 3, now: 301) == .go)
        s.end("a/det")
        #expect(s.begin("a/det", target: 3, now: 5000) == .go)
    }
}
