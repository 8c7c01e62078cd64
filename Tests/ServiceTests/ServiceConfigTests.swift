import Batching
import Foundation
import Service
import TestSupport
import Testing

@Suite("Service config")
struct ServiceConfigTests {
    @Test("The bundled config reads as documented")
    func bundled() throws {
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(TestAssets.root.path)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        let config = try ServiceConfig.load(path: "config/serve.yaml")
        #expect(config.host == "127.0.0.1" && config.port == 8080)
        #expect(config.repository == "models" && config.eventsFolder == "out/events")
        #expect(config.policy == .realtime && config.sizes == [1, 2, 4, 8, 16])
        #expect(config.streams.map(\.id) == ["entrance", "lobby"])
        #expect(config.streams.allSatisfy { $0.loop && $0.realtime && $0.modelPath == "models/pedestrian-ssdlite" })
    }

    /// A config with `streams` entry `entry` (YAML flow mapping) after a valid header.
    static func config(_ body: String) -> String {
        "models: { repository: \(TestAssets.root.path)/models }\n" + body
    }

    static let video = TestAssets.video

    @Test(
        "Every bad config is refused with the file, the key and what is wrong",
        arguments: [
            ("serverx: {}", "bad.yaml: serverx: unknown key"),
            ("server: { port: eighty }", "bad.yaml: server.port: must be an integer"),
            ("server: { port: 70000 }", "bad.yaml: server.port: must be within 0...65535"),
            ("batching: { policy: fastest }", "bad.yaml: batching.policy: unknown policy 'fastest'"),
            ("batching: { sizes: [0, 2] }", "bad.yaml: batching.sizes: give sizes within 1...256"),
            ("streams: { id: a }", "bad.yaml: streams: must be a list of streams"),
            ("streams:\n  - { id: a, model: pedestrian-ssdlite }", "bad.yaml: streams[0].source: missing"),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, colour: red }",
                "bad.yaml: streams[0].colour: unknown key"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, loop: sometimes }",
                "bad.yaml: streams[0].loop: must be true or false"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite }\n"
                    + "  - { id: a, source: \(video), model: pedestrian-ssdlite }",
                "bad.yaml: streams[1].id: duplicate id 'a'"
            ),
            (
                "streams:\n  - { id: 'a b', source: \(video), model: pedestrian-ssdlite }",
                "bad.yaml: streams[0].id: 'a b' is not a valid id"
            ),
            (
                "streams:\n  - { id: a, source: /nonexistent/cam.mp4, model: pedestrian-ssdlite }",
                "bad.yaml: streams[0].source: no such file: /nonexistent/cam.mp4"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: no-such-model }",
                "bad.yaml: streams[0].model: no such model: 'no-such-model' is not a path nor a model in"
            ),
            ("streams: [ { id: a", "bad.yaml: not valid YAML"),
        ])
    func badConfigs(_ body: String, _ expected: String) {
        #expect {
            _ = try ServiceConfig.parse(yaml: Self.config(body), file: "bad.yaml")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(expected) && !text.contains("\n")
        }
    }

    @Test("serve refuses a bad config at start: one line naming the file and the key, exit 1")
    func serveRefuses() throws {
        let dir = TestAssets.temporaryDirectory("bad-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("serve.yaml")
        try Self.config("streams:\n  - { id: a, model: pedestrian-ssdlite }\n").write(
            to: file, atomically: true, encoding: .utf8)
        let result = try runBatchline(["serve", "--config", file.path], timeout: 30)
        #expect(result.status == 1)
        #expect(result.stderr == "batchline: error: \(file.path): streams[0].source: missing\n", "\(result.stderr)")

        let missing = try runBatchline(["serve", "--config", dir.appendingPathComponent("none.yaml").path])
        #expect(missing.status == 1)
        #expect(
            missing.stderr.hasSuffix("none.yaml: no such file\n") && missing.stderr.split(separator: "\n").count == 1)
    }

    /// A fleet's file: shared streams, two nodes' parts, and (in `bad`) a problem in every section.
    static let fleet = config(
        """
        streams:
          - { id: shared, source: \(video), model: pedestrian-ssdlite }
        nodes:
          edge-01:
            streams:
              - { id: gate-1, source: "rtsp://10.0.0.21:8554/cam", model: pedestrian-ssdlite }
              - { id: gate-2, source: "udp://0.0.0.0:5000", model: ppocr-cls }
          edge-02.site-a:
            streams:
              - { id: dock, source: "http://10.0.0.40/live.ts", model: pedestrian-ssdlite }
          edge-03:
        """)

    @Test("nodes: each node serves the shared streams and its own part; ids are unique fleet-wide")
    func nodeParts() throws {
        let config = try ServiceConfig.parse(yaml: Self.fleet, file: "fleet.yaml")
        #expect(config.streams.map(\.id) == ["shared"])
        #expect(config.nodes.keys.sorted() == ["edge-01", "edge-02.site-a", "edge-03"])
        #expect(config.allStreams.count == 4)
        #expect(config.selecting(node: "edge-01").streams.map(\.id) == ["shared", "gate-1", "gate-2"])
        #expect(config.selecting(node: "edge-02.site-a").streams.map(\.id) == ["shared", "dock"])
        #expect(config.selecting(node: "edge-03").streams.map(\.id) == ["shared"] && config.hasOwnPart(node: "edge-03"))
        let stranger = config.selecting(node: "edge-09")
        #expect(stranger.streams.map(\.id) == ["shared"] && !config.hasOwnPart(node: "edge-09"))
        #expect(stranger.node == "edge-09")

        #expect {
            _ = try ServiceConfig.parse(
                yaml: Self.fleet
                    + "\n  edge-04: { streams: [ { id: gate-1, source: \"rtsp://h/x\", model: ppocr-cls } ] }",
                file: "fleet.yaml")
        } throws: { "\($0)" == "fleet.yaml: nodes.edge-04.streams[0].id: duplicate id 'gate-1'" }
        for name in ["Edge-1", "edge_1", "-edge", "edge-", String(repeating: "a", count: 64)] {
            #expect(!ServiceConfig.isValidNodeName(name), "\(name)")
        }
    }

    @Test("check collects every problem, one per section, stream or node, in the file's order")
    func checkCollects() {
        let yaml = Self.config(
            """
            server: { port: 70000 }
            batching: { policy: fastest }
            streams:
              - { id: a, source: \(Self.video), model: pedestrian-ssdlite }
              - { id: a, source: \(Self.video), model: pedestrian-ssdlite }
              - { id: b, source: /nonexistent/cam.mp4, model: pedestrian-ssdlite }
            nodes:
              Edge_1: {}
              edge-02:
                streams:
                  - { id: c, source: "rtsp://10.0.0.1/x", model: no-such-model }
                  - { id: d, source: "rtsp://10.0.0.1/y", model: ppocr-cls }
            """)
        let (config, problems) = ServiceConfig.check(yaml: yaml, file: "bad.yaml")
        #expect(
            problems.map(\.description) == [
                "bad.yaml: server.port: must be within 0...65535",
                "bad.yaml: batching.policy: unknown policy 'fastest': use one of fixed, realtime, slo, aimd",
                "bad.yaml: streams[1].id: duplicate id 'a'",
                "bad.yaml: streams[2].source: no such file: /nonexistent/cam.mp4",
                "bad.yaml: nodes.Edge_1: 'Edge_1' is not a Kubernetes node name (lower-case DNS name)",
                "bad.yaml: nodes.edge-02.streams[0].model: no such model: 'no-such-model' is not a path nor a model in \(TestAssets.root.path)/models",
            ])
        // What is good is kept: the first stream and the second node's good stream.
        #expect(config.streams.map(\.id) == ["a"] && config.nodes["edge-02"]?.map(\.id) == ["d"])
        #expect(ServiceConfig.check(yaml: Self.fleet, file: "fleet.yaml").1.isEmpty)
    }

    @Test("serve --check-config: exit 0 with a summary, or exit 1 with one line per problem; nothing served")
    func checkConfigCommand() throws {
        let dir = TestAssets.temporaryDirectory("check-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("fleet.yaml")
        try Self.fleet.write(to: good, atomically: true, encoding: .utf8)
        let ok = try runBatchline(["serve", "--check-config", good.path, "--node", "edge-01"], timeout: 30)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(
            ok.stdout == "\(good.path): ok: 4 streams (1 shared, 3 nodes), models pedestrian-ssdlite, ppocr-cls; "
                + "node edge-01 serves 3\n")
        let bad = dir.appendingPathComponent("bad.yaml")
        try Self.config("server: { port: 70000 }\nstreams:\n  - { id: a, model: pedestrian-ssdlite }\n").write(
            to: bad, atomically: true, encoding: .utf8)
        let refused = try runBatchline(["serve", "--check-config", bad.path], timeout: 30)
        #expect(refused.status == 1 && refused.stdout.isEmpty)
        #expect(
            refused.stderr == "batchline: error: \(bad.path): server.port: must be within 0...65535\n"
                + "batchline: error: \(bad.path): streams[0].source: missing\n", "\(refused.stderr)")
        let both = try runBatchline(["serve", "--check-config", good.path, "--config", good.path], timeout: 30)
        #expect(both.status != 0 && both.stderr.contains("give either --config FILE"))
    }
}
