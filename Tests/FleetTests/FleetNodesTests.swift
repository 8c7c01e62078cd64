import Foundation
import TestSupport
import Testing

/// The fleet with real nodes: three `batchline serve` processes on loopback and `batchline fleet`,
/// on the real detector and vtest.avi.
@Suite("Fleet with real nodes", .serialized)
struct FleetNodesTests {
    /// A node with a token and no streams of its own (the fleet's are all it runs).
    static func node(_ dir: URL, _ name: String, repository: String? = nil, port: Int = 0) throws -> ServeProcess {
        try ServeProcess(
            config: """
                server: { host: 127.0.0.1, port: 0, token_file: \(dir.path)/\(name).token }
                models: { repository: \(repository ?? TestAssets.root.path + "/models"), watch: false }
                output: { events: \(dir.path)/\(name)/events, outbox: \(dir.path)/\(name)/outbox, snapshots: \(dir.path)/\(name)/snapshots, clips: \(dir.path)/\(name)/clips }
                batching: { policy: realtime, sizes: [1, 2, 4] }
                sources: { timeout_s: 5 }
                """, port: port)
    }

    static func fleetConfig(_ dir: URL, nodes: [(String, ServeProcess)], repository: String? = nil) -> String {
        var yaml = """
            server: { host: 127.0.0.1, port: 0, token_file: \(dir.path)/fleet.token }
            state: \(dir.path)/fleet/state.sqlite
            failover_s: 10
            \(repository.map { "models: { repository: \($0) }" } ?? "")
            nodes:

            """
        for (name, node) in nodes {
            yaml += "  - { name: \(name), url: \"\(node.address)\", token_file: \(dir.path)/\(name).token }\n"
        }
        return yaml
    }

    static func cameras(_ fleet: ServeProcess) async throws -> [String: [String: Any]] {
        let reply = try await fleet.request("GET", "/api/v1/fleet/cameras")
        return Dictionary(
            uniqueKeysWithValues: (reply.array ?? []).compactMap { c in (c["id"] as? String).map { ($0, c) } })
    }

    /// Polls until every camera of `ids` runs (on whatever node), or `timeout`; the last look.
    static func allRunning(_ fleet: ServeProcess, _ ids: [String], timeout: Double) async throws -> [String: [String:
        Any]]
    {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = try await cameras(fleet)
        while Date() < deadline, !ids.allSatisfy({ seen[$0]?["state"] as? String == "running" }) {
            try await Task.sleep(for: .milliseconds(500))
            seen = try await cameras(fleet)
        }
        return seen
    }

    @Test(
        "Cameras spread over three nodes by headroom (one that needs more than any node can take is placed nowhere, with the reason), each node's event feed followed; a node SIGKILLed is down and its camera runs on another, none lost; a stream added behind the fleet's back is undone; the fleet SIGKILLed and restarted keeps its desired state; a move and a removal reach the nodes"
    )
    func placeFailAndReconcile() async throws {
        let dir = TestAssets.temporaryDirectory("fleet")
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["n1", "n2", "n3"]
        var nodes: [String: ServeProcess] = [:]
        for name in names { nodes[name] = try Self.node(dir, name) }
        let fleetYAML = Self.fleetConfig(dir, nodes: names.map { ($0, nodes[$0]!) })
        var fleet = try ServeProcess(config: fleetYAML, command: "fleet")
        try #require(try await fleet.poll("/v2/health/ready", timeout: 30) { $0.status == 200 }.status == 200)
        let token = try String(contentsOf: dir.appendingPathComponent("fleet.token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = "Bearer \(token)"
        func add(_ id: String, node: String = "auto") async throws -> HTTPReply {
            let body =
                #"{"id":"\#(id)","source":"\#(TestAssets.video)","model":"pedestrian-ssdlite","loop":true,"realtime":true,"track":true,"infer_every":2,"fps":10,"node":"\#(node)"}"#
            return try await fleet.request("POST", "/api/v1/fleet/cameras", body: Data(body.utf8), authorization: auth)
        }

        // Refusals: no token, an unknown node, an unknown key.
        let body = Data(#"{"source":"x","model":"m"}"#.utf8)
        #expect(try await fleet.request("POST", "/api/v1/fleet/cameras", body: body).status == 401)
        #expect(try await add("z", node: "n9").status == 400)

        // Three cameras, auto: one on each node (an empty node is the roomiest).
        for id in ["a", "b", "c"] { #expect(try await add(id).status == 201) }
        #expect(try await add("a").status == 409)
        var seen = try await Self.allRunning(fleet, ["a", "b", "c"], timeout: 180)
        let placed = ["a", "b", "c"].compactMap { seen[$0]?["node"] as? String }
        #expect(Set(placed) == Set(names), "placed: \(placed); \(seen)")
        let nodesReply = try await fleet.request("GET", "/api/v1/fleet/nodes")
        #expect(
            (nodesReply.array ?? []).allSatisfy { ($0["state"] as? String) == "up" && $0["headroom_fps"] is Double })
        // A node already full gets none: a camera needing 50 frames/s more than the roomiest node's
        // measured headroom is placed nowhere, with the reason (left out, said, where a node could
        // take the most a camera may ask, 240).
        let roomiest = (nodesReply.array ?? []).compactMap { $0["headroom_fps"] as? Double }.max() ?? 0
        let need = Int((roomiest + 50).rounded(.up))
        if need <= 240 {
            let big =
                #"{"id":"big","source":"\#(TestAssets.video)","model":"pedestrian-ssdlite","loop":true,"realtime":true,"fps":\#(need),"node":"auto"}"#
            #expect(
                try await fleet.request("POST", "/api/v1/fleet/cameras", body: Data(big.utf8), authorization: auth)
                    .status == 201)
            let refused = try await fleet.poll("/api/v1/fleet/cameras/big", timeout: 30) { reply in
                (reply.object?["problem"] as? String ?? "").contains("no node can take it")
            }
            #expect(refused.object?["state"] as? String == "unplaced", "\(refused.text)")
            #expect((refused.object?["problem"] as? String ?? "").contains("no node can take it"), "\(refused.text)")
            #expect(
                try await fleet.request("DELETE", "/api/v1/fleet/cameras/big", authorization: auth).status == 204)
            print("fleet: a camera needing \(need) frames/s placed nowhere (roomiest node: \(roomiest) frames/s)")
        } else {
            print("fleet: the roomiest node takes \(roomiest) frames/s more: no camera may ask enough to fill it")
        }
        // Every node's event feed is followed (the fleet goes round when a stream changes there).
        let fed = try await fleet.poll("/api/v1/fleet/nodes", timeout: 30) { reply in
            (reply.array ?? []).allSatisfy { $0["feed"] as? Bool == true }
        }
        #expect((fed.array ?? []).allSatisfy { $0["feed"] as? Bool == true }, "\(fed.text)")

        // Behind the fleet's back: a stream added on a node directly is stopped there.
        let victim = try #require(seen["b"]?["node"] as? String)
        let other = names.first { $0 != victim }!
        let nodeToken = try String(contentsOf: dir.appendingPathComponent("\(other).token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let stray = #"{"id":"stray","source":"\#(TestAssets.video)","model":"pedestrian-ssdlite","loop":true}"#
        #expect(
            try await nodes[other]!.request(
                "POST", "/api/v1/streams", body: Data(stray.utf8), authorization: "Bearer \(nodeToken)"
            ).status == 201)
        let undone = try await nodes[other]!.poll("/api/v1/streams", timeout: 60) { reply in
            !(reply.array ?? []).contains { $0["id"] as? String == "stray" }
        }
        #expect(!(undone.array ?? []).contains { $0["id"] as? String == "stray" }, "the stray stream is still there")

        // A node dies: down, then its camera runs elsewhere; none lost.
        let killedAt = Date()
        _ = nodes[victim]!.stop(signal: SIGKILL)
        let down = try await fleet.poll("/api/v1/fleet/nodes", timeout: 60) { reply in
            (reply.array ?? []).contains { $0["name"] as? String == victim && $0["state"] as? String == "down" }
        }
        #expect((down.array ?? []).contains { $0["name"] as? String == victim && $0["state"] as? String == "down" })
        #expect((down.array ?? []).contains { $0["name"] as? String == victim && $0["feed"] as? Bool == false })
        let downAfter = Date().timeIntervalSince(killedAt)
        seen = try await Self.allRunning(fleet, ["a", "b", "c"], timeout: 180)
        let movedAfter = Date().timeIntervalSince(killedAt)
        #expect(["a", "b", "c"].allSatisfy { seen[$0]?["state"] as? String == "running" }, "\(seen)")
        #expect(seen["b"]?["node"] as? String != victim)
        print(
            "fleet: node \(victim) down \(String(format: "%.1f", downAfter)) s after SIGKILL; its camera running elsewhere after \(String(format: "%.1f", movedAfter)) s (failover_s 10)"
        )

        // The fleet itself dies and comes back: the same desired state.
        let before = seen.mapValues { $0["node"] as? String ?? "" }
        _ = fleet.stop(signal: SIGKILL)
        fleet = try ServeProcess(config: fleetYAML, command: "fleet")
        let after = try await Self.cameras(fleet).mapValues { $0["node"] as? String ?? "" }
        #expect(after == before, "before \(before), after \(after)")

        // Moved by hand to a named node, then removed.
        let target = names.first { $0 != victim && $0 != before["a"] }!
        let moved = try await fleet.request(
            "PATCH", "/api/v1/fleet/cameras/a", body: Data(#"{"node":"\#(target)"}"#.utf8), authorization: auth)
        #expect(moved.status == 200 && moved.object?["placement"] as? String == target)
        let there = try await nodes[target]!.poll("/api/v1/streams", timeout: 120) { reply in
            (reply.array ?? []).contains { $0["id"] as? String == "a" }
        }
        #expect((there.array ?? []).contains { $0["id"] as? String == "a" })
        #expect(try await fleet.request("DELETE", "/api/v1/fleet/cameras/c", authorization: auth).status == 204)
        let cNode = try #require(before["c"])
        if let holder = nodes[cNode], cNode != victim {
            let gone = try await holder.poll("/api/v1/streams", timeout: 60) { reply in
                !(reply.array ?? []).contains { $0["id"] as? String == "c" }
            }
            #expect(!(gone.array ?? []).contains { $0["id"] as? String == "c" })
        }
        #expect(try await fleet.request("GET", "/api/v1/fleet/cameras/c").status == 404)
        #expect(fleet.stop().status == 0)
    }

    /// A repository of the detector's weights as versions 1 and 2 (`<dir>/models/pedestrian`).
    static func twoVersions(_ dir: URL) throws -> String {
        let model = dir.appendingPathComponent("models/pedestrian")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for v in ["1", "2"] {
            try FileManager.default.copyItem(
                at: URL(fileURLWithPath: TestAssets.detector), to: model.appendingPathComponent(v))
        }
        return dir.appendingPathComponent("models").path
    }

    @Test("discover: a DNS name's addresses are asked their names and become nodes (localhost: the one node there)")
    func discovery() async throws {
        let dir = TestAssets.temporaryDirectory("fleet-discover")
        defer { try? FileManager.default.removeItem(at: dir) }
        let node = try Self.node(dir, "n1")
        let port = try #require(node.address.split(separator: ":").last.map(String.init))
        let fleet = try ServeProcess(
            config: """
                server: { host: 127.0.0.1, port: 0, token_file: \(dir.path)/fleet.token }
                state: \(dir.path)/fleet/state.sqlite
                discover: { dns: localhost, port: \(port), token_file: \(dir.path)/n1.token }
                """, command: "fleet")
        let system = try await node.request("GET", "/api/v1/system")
        let name = try #require(system.object?["node"] as? String)
        let found = try await fleet.poll("/api/v1/fleet/nodes", timeout: 60) { reply in
            (reply.array ?? []).contains { $0["name"] as? String == name && $0["state"] as? String == "up" }
        }
        let nodes = found.array ?? []
        #expect(nodes.count == 1 && nodes.first?["name"] as? String == name, "\(nodes)")
        #expect(nodes.first?["url"] as? String == "http://127.0.0.1:\(port)")
        #expect(fleet.stop().status == 0)
    }

    @Test(
        "Rollouts over three nodes, two sharing the fleet's repository and one with its own (sent the versions it lacks), and the fleet's page in headless Chromium: a camera added, moved and removed from the page; a good version rolled out from the page (judged on the canary, served there and watched, then on the others; its steps live); a corrupt one halted at the canary with the others untouched; one aborted by hand goes back; a node switched behind the fleet's back, and one restarted on a newer version on its disk, serve the version assigned again"
    )
    func rollouts() async throws {
        let dir = TestAssets.temporaryDirectory("fleet-rollout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let repository = try Self.twoVersions(dir)
        let model = dir.appendingPathComponent("models/pedestrian")
        // n3 keeps a repository of its own, holding version 2 only: the fleet sends it the others.
        let own = dir.appendingPathComponent("n3-models/pedestrian")
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: model.appendingPathComponent("2"), to: own.appendingPathComponent("2"))
        let names = ["n1", "n2", "n3"]
        var nodes: [String: ServeProcess] = [:]
        for name in names {
            nodes[name] = try Self.node(
                dir, name, repository: name == "n3" ? own.deletingLastPathComponent().path : repository)
        }
        let fleet = try ServeProcess(
            config: Self.fleetConfig(dir, nodes: names.map { ($0, nodes[$0]!) }, repository: repository),
            command: "fleet")
        let token = try String(contentsOf: dir.appendingPathComponent("fleet.token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = "Bearer \(token)"
        for (i, name) in names.enumerated() {
            let body =
                #"{"id":"c\#(i)","source":"\#(TestAssets.video)","model":"pedestrian","loop":true,"realtime":true,"track":true,"infer_every":2,"fps":10,"node":"\#(name)"}"#
            #expect(
                try await fleet.request("POST", "/api/v1/fleet/cameras", body: Data(body.utf8), authorization: auth)
                    .status == 201)
        }
        _ = try await Self.allRunning(fleet, ["c0", "c1", "c2"], timeout: 180)
        func served() async throws -> [String: Int] {
            var out: [String: Int] = [:]
            for name in names {
                let list = try await nodes[name]!.request("GET", "/api/v1/models").array ?? []
                out[name] = list.first { $0["name"] as? String == "pedestrian" }?["version"] as? Int
            }
            return out
        }
        #expect(try await served() == ["n1": 2, "n2": 2, "n3": 2])
        // The fleet sees each node serve the model before a rollout can choose among them.
        _ = try await fleet.poll("/api/v1/fleet/nodes", timeout: 60) { reply in
            (reply.array ?? []).allSatisfy { (($0["models"] as? [String: Any])?["pedestrian"]) != nil }
        }
        func roll(_ body: String) async throws -> String {
            let reply = try await fleet.request(
                "POST", "/api/v1/fleet/rollouts", body: Data(body.utf8), authorization: auth)
            #expect(reply.status == 201, "\(reply.text)")
            return try #require(reply.object?["id"] as? String)
        }
        func settled(_ id: String, _ phases: Set<String>) async throws -> [String: Any] {
            let reply = try await fleet.poll("/api/v1/fleet/rollouts/\(id)", timeout: 300) { r in
                phases.contains(r.object?["phase"] as? String ?? "")
            }
            return reply.object ?? [:]
        }

        // The fleet's page in headless Chromium: a camera added, moved and removed from the page, and
        // a good version (the same weights as version 1) rolled out from the page, its steps live.
        let page = try await fleet.request("GET", "/")
        #expect(page.status == 200 && page.text.contains("<title>Batchline fleet</title>"))
        let result = try runProcess(
            URL(fileURLWithPath: TestAssets.venvPython),
            [TestAssets.helper("fleet_check.py"), fleet.address, token, TestAssets.video] + names, timeout: 400)
        print(result.stdout)
        #expect(result.status == 0, "fleet page checks failed:\n\(result.stdout)\n\(result.stderr.suffix(3000))")
        #expect(result.stdout.contains("all checks passed"))
        let good = try #require(
            try await fleet.request("GET", "/api/v1/fleet/rollouts").array?.first?["id"] as? String)
        let done = try await settled(good, ["done", "failed", "aborted"])
        #expect(done["phase"] as? String == "done", "\(done)")
        let steps = (done["steps"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(steps.contains { $0.hasPrefix("shadow: agreement 1.0") }, "\(steps)")
        #expect(steps.contains { $0.hasPrefix("kept up") }, "\(steps)")
        #expect(try await served() == ["n1": 1, "n2": 1, "n3": 1])

        // A corrupt version: the canary's shadow run cannot load it; halted there, nothing switched.
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: TestAssets.detector), to: model.appendingPathComponent("3"))
        try Data("not a graph".utf8).write(to: model.appendingPathComponent("3/frozen_inference_graph.pb"))
        let bad = try await roll(
            #"{"model":"pedestrian","version":3,"frames":6,"every_ms":200,"observe_s":15,"lag_margin":20}"#)
        let halted = try await settled(bad, ["done", "failed", "aborted"])
        #expect(
            halted["phase"] as? String == "failed" && (halted["reason"] as? String ?? "").contains("shadow"),
            "\(halted)")
        #expect(try await served() == ["n1": 1, "n2": 1, "n3": 1])

        // Aborted by hand while the canary is watched: it goes back.
        let slow = try await roll(
            #"{"model":"pedestrian","version":2,"frames":4,"every_ms":200,"observe_s":600,"lag_margin":20}"#)
        let watched = try await settled(slow, ["observing", "failed"])
        #expect(watched["phase"] as? String == "observing", "\(watched)")
        let canary = try #require(watched["canary"] as? String)
        #expect(try await served()[canary] == 2)
        let aborted = try await fleet.request("POST", "/api/v1/fleet/rollouts/\(slow)/abort", authorization: auth)
        #expect(aborted.status == 200 && aborted.object?["phase"] as? String == "aborted", "\(aborted.text)")
        #expect(try await served() == ["n1": 1, "n2": 1, "n3": 1])
        // n3 was sent version 1 (and 3 when it was the canary) into its own repository, as a version.
        let sent = try FileManager.default.contentsOfDirectory(atPath: own.path).sorted()
        #expect(sent.contains("1") && !sent.contains { $0.hasPrefix(".") }, "\(sent)")
        #expect(
            FileManager.default.contentsEqual(
                atPath: own.appendingPathComponent("1/frozen_inference_graph.pb").path,
                andPath: model.appendingPathComponent("1/frozen_inference_graph.pb").path))

        // Version 2 switched on n1 behind the fleet's back: reported and undone.
        let n1Token = try String(contentsOf: dir.appendingPathComponent("n1.token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let behind = try await nodes["n1"]!.request(
            "POST", "/api/v1/models/pedestrian/activate", body: Data(#"{"version":2}"#.utf8),
            authorization: "Bearer \(n1Token)")
        #expect(behind.status == 200, "\(behind.text)")
        let undone = try await nodes["n1"]!.poll("/api/v1/models", timeout: 120) { reply in
            reply.array?.first?["version"] as? Int == 1
        }
        #expect(undone.array?.first?["version"] as? Int == 1, "\(undone.text)")

        // n3 stopped and started again: its latest on disk is 2 (or 3), yet it serves 1, assigned.
        let port = try #require(nodes["n3"]!.address.split(separator: ":").last.flatMap { Int($0) })
        #expect(nodes["n3"]!.stop().status == 0)
        nodes["n3"] = try Self.node(dir, "n3", repository: own.deletingLastPathComponent().path, port: port)
        let back = try await nodes["n3"]!.poll("/api/v1/streams", timeout: 180) { reply in
            (reply.array ?? []).contains { $0["id"] as? String == "c2" }
        }
        #expect((back.array ?? []).contains { $0["id"] as? String == "c2" }, "\(back.text)")
        #expect(try await served()["n3"] == 1)
        // A version uploaded to the fleet's own repository (GNU tar's archive), listed for rollouts.
        let archive = try TestAssets.tarArchive(of: TestAssets.detector)
        let uploaded = try await fleet.request(
            "PUT", "/api/v1/fleet/models/pedestrian/versions/4", body: archive, authorization: auth)
        #expect(uploaded.status == 201, "\(uploaded.text)")
        let listed = try await fleet.request("GET", "/api/v1/fleet/models").array ?? []
        #expect(listed.first { $0["name"] as? String == "pedestrian" }?["versions"] as? [Int] == [1, 2, 3, 4])
        let log = try await fleet.request("GET", "/api/v1/fleet/log").text
        #expect(log.contains("n1 serves pedestrian version 2; the fleet assigns version 1"), "\(log)")
        let metrics = try await fleet.request("GET", "/metrics")
        #expect(metrics.text.contains(#"batchline_fleet_rollouts{phase="done"} 1"#), "\(metrics.text)")
        #expect(metrics.text.contains(#"batchline_fleet_node_up{node="n1"} 1"#), "\(metrics.text)")
        #expect(fleet.stop().status == 0)
    }
}
