import Analytics
import Batching
import Core
import Delivery
import EdgeNode
import Foundation
import Runtime
import TestSupport
import Testing

@testable import EdgeNode

@Suite("Service config")
struct ServiceConfigTests {
    @Test("The bundled config reads as documented")
    func bundled() throws {
        let cwd = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(TestAssets.root.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        let config = try ServiceConfig.load(path: "config/serve.yaml")
        #expect(config.host == "127.0.0.1" && config.port == 8080)
        #expect(config.repository == "models" && config.eventsFolder == "out/events")
        #expect(config.policy == .realtime && config.sizes == [1, 2, 4, 8, 16])
        #expect(config.streams.map(\.id) == ["entrance", "lobby"])
        // The model's one identity: its real path.
        let model = URL(fileURLWithPath: "models/pedestrian-ssdlite").resolvingSymlinksInPath().path
        #expect(config.streams.allSatisfy { $0.loop && $0.realtime && $0.modelPath == model })
        #expect(config.streams[1].track && config.streams[1].analytics?.lines.map(\.name) == ["middle"])
        #expect(config.sinks.isEmpty)
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
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, infer_every: 0 }",
                "bad.yaml: streams[0].infer_every: must be a whole number of frames within 1...300, or auto"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, infer_every: -2 }",
                "bad.yaml: streams[0].infer_every: must be a whole number of frames within 1...300, or auto"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, infer_every: often }",
                "bad.yaml: streams[0].infer_every: must be a whole number of frames within 1...300, or auto"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, motion: true }",
                "bad.yaml: streams[0].motion: needs track: true"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, infer_every: 2.5 }",
                "bad.yaml: streams[0].infer_every: must be a whole number of frames within 1...300, or auto"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, infer_every: 3 }",
                "bad.yaml: streams[0].infer_every: needs track: true"
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
                "streams:\n  - { id: a, source: nonexistent/cam.mp4, model: pedestrian-ssdlite }",
                "bad.yaml: streams[0].source: no such file: nonexistent/cam.mp4"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: no-such-model }",
                "bad.yaml: streams[0].model: no such model: 'no-such-model' is not a path nor a model in"
            ),
            ("streams: [ { id: a", "bad.yaml: not valid YAML"),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, analytics: { lines: [] } }",
                "bad.yaml: streams[0].analytics: needs track: true"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { lines: [ { name: door, from: [1, 1], to: [1, 1] } ] } }",
                "bad.yaml: streams[0].analytics: lines[0] (door): from and to are the same point"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { zones: [ { name: q, points: [[0, 0], [5, 5]] } ] } }",
                "bad.yaml: streams[0].analytics: zones[0] (q): a zone needs 3 or more points, got 2"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { lines: [ { name: door, from: [1], to: [3, 4] } ] } }",
                "bad.yaml: streams[0].analytics.lines[0].from: must be [x, y], two finite numbers"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { counters: [] } }",
                "bad.yaml: streams[0].analytics.counters: unknown key"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { zones: [ { name: q, points: [[0, 0], [9, 0], [9, 9]], loiter_s: -1 } ] } }",
                "bad.yaml: streams[0].analytics: zones[0] (q): loiter_s must be above 0"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, record: {} }",
                "bad.yaml: streams[0].record: needs analytics: (clips are of events)"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { lines: [ { name: door, from: [1, 1], to: [9, 9] } ] }, record: { pre_s: 500 } }",
                "bad.yaml: streams[0].record: pre_s must be a number of seconds within 0...120"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { lines: [ { name: door, from: [1, 1], to: [9, 9] } ] }, record: { pre_s: 0, post_s: 0 } }",
                "bad.yaml: streams[0].record: pre_s and post_s are both 0: a clip would be empty"
            ),
            (
                "streams:\n  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, "
                    + "analytics: { lines: [ { name: door, from: [1, 1], to: [9, 9] } ] }, record: { pre: 5 } }",
                "bad.yaml: streams[0].record.pre: unknown key (known: pre_s, post_s)"
            ),
            ("output: { clips: '' }", "bad.yaml: output.clips: must name a folder"),
            ("output: { clips_mb: 0 }", "bad.yaml: output.clips_mb: must be within 1...1048576"),
            ("sinks:\n  - { type: kafka, url: \"kafka://x\" }", "bad.yaml: sinks[0].type: unknown sink type 'kafka'"),
            ("sinks:\n  - { type: mqtt }", "bad.yaml: sinks[0].url: missing"),
            (
                "sinks:\n  - { type: mqtt, url: \"ws://broker:80\" }",
                "bad.yaml: sinks[0]: mqtt-1: url scheme \"ws\" is not supported (use mqtt://HOST:PORT or mqtts://)"
            ),
            (
                "sinks:\n  - { type: mqtt, url: \"mqtt://broker\", ca_file: ca.pem }",
                "bad.yaml: sinks[0]: mqtt-1: ca_file needs an mqtts:// url"
            ),
            (
                "sinks:\n  - { type: mqtt, url: \"mqtt://broker:1883\", qos: 0 }",
                "bad.yaml: sinks[0]: mqtt-1: qos 0 is not supported"
            ),
            (
                "sinks:\n  - { type: mqtt, url: \"mqtt://broker\", topic: \"a/#\" }",
                "bad.yaml: sinks[0]: mqtt-1: topic \"a/#\" must be a plain topic"
            ),
            (
                "sinks:\n  - { type: webhook, url: \"ftp://x/y\" }",
                "bad.yaml: sinks[0]: webhook-1: url \"ftp://x/y\" must be http(s)://HOST[:PORT]/PATH"
            ),
            (
                "sinks:\n  - { type: webhook, name: a, url: \"http://x/y\" }\n  - { type: mqtt, name: a, url: \"mqtt://x\" }",
                "bad.yaml: sinks[1].name: duplicate sink name 'a'"
            ),
            (
                "sinks:\n  - { type: webhook, url: \"http://x/y\", outbox_mb: 0 }",
                "bad.yaml: sinks[0].outbox_mb: must be within 1...1048576"
            ),
            ("sinks: { type: mqtt }", "bad.yaml: sinks: must be a list of sinks"),
        ])
    func badConfigs(_ body: String, _ expected: String) {
        #expect {
            _ = try ServiceConfig.parse(yaml: Self.config(body), file: "bad.yaml")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(expected) && !text.contains("\n")
        }
    }

    @Test("A stream's analytics: lines and zones read as given, anchor and classes too")
    func analytics() throws {
        let config = try ServiceConfig.parse(
            yaml: Self.config(
                """
                streams:
                  - id: a
                    source: \(Self.video)
                    model: pedestrian-ssdlite
                    track: true
                    analytics:
                      lines: [ { name: door, from: [10, 20], to: [300, 20] } ]
                      zones: [ { name: q, points: [[0, 0], [90, 0], [90, 90]], loiter_s: 30, anchor: centre, classes: [person] } ]
                """), file: "a.yaml")
        let spec = try #require(config.streams.first?.analytics)
        #expect(spec.lines.first?.name == "door" && spec.lines.first?.to.x == 300)
        #expect(spec.zones.first?.loiterSeconds == 30 && spec.zones.first?.anchor == .centre)
        #expect(spec.zones.first?.classes == ["person"])
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
              - { id: b, source: nonexistent/cam.mp4, model: pedestrian-ssdlite }
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
                "bad.yaml: streams[2].source: no such file: nonexistent/cam.mp4",
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
                + "node edge-01 serves 3; checked: events folder out/events written to, device CPU available, "
                + "2 models loaded and compiled on CPU at batch size 1 (the other batch sizes compile at start)\n")
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

    @Test(
        "Limits, types and unknown keys at any depth are refused with the dotted key",
        arguments: [
            ("output: { rotate_mb: 8796093022208 }", "bad.yaml: output.rotate_mb: must be within 1...1048576"),
            ("output: { keep: 0 }", "bad.yaml: output.keep: must be within 1...100"),
            ("output: { keep: 2.5 }", "bad.yaml: output.keep: must be an integer"),
            ("sources: { timeout_s: 1e13 }", "bad.yaml: sources.timeout_s: must be more than 0 and at most 3600"),
            ("sources: { timeout_s: 0 }", "bad.yaml: sources.timeout_s: must be more than 0 and at most 3600"),
            ("sources: { timeout_s: .nan }", "bad.yaml: sources.timeout_s: must be a finite number"),
            ("sources: { timeout_s: five }", "bad.yaml: sources.timeout_s: must be a number"),
            (
                "batching: { latency_slo_ms: 60001 }",
                "bad.yaml: batching.latency_slo_ms: must be more than 0 and at most 60000"
            ),
            ("batching: { sizes: [] }", "bad.yaml: batching.sizes: give sizes within 1...256"),
            ("batching: { sizes: [1, two] }", "bad.yaml: batching.sizes: must be a list of integers"),
            (
                "batching: { sizes: [\((1...17).map(String.init).joined(separator: ", "))] }",
                "bad.yaml: batching.sizes: give at most 16 sizes, not 17"
            ),
            ("server: 8080", "bad.yaml: server: must be a mapping of keys to values"),
            ("server: { host: 80 }", "bad.yaml: server.host: must be a string"),
            ("server: { port: '80' }", "bad.yaml: server.port: must be an integer"),
            ("server: { port: 80, port: 81 }", "bad.yaml: not valid YAML: Parser: expected all keys to be unique"),
            ("server: { port: 80, tls: true }", "bad.yaml: server.tls: unknown key (known: host, port, token_file, "),
            ("device: [CPU]", "bad.yaml: device: must be a string"),
            ("streams:\n  - { source: \(video), model: pedestrian-ssdlite }", "bad.yaml: streams[0].id: missing"),
            ("nodes: { edge-01: { cameras: [] } }", "bad.yaml: nodes.edge-01.cameras: unknown key (known: streams)"),
            ("nodes: { edge-01: [] }", "bad.yaml: nodes.edge-01: must be a mapping of keys to values"),
            (
                "nodes:\n  edge-01:\n    streams:\n"
                    + "      - { id: a, source: \"rtsp://h/x\", model: ppocr-cls, fps: 5 }",
                "bad.yaml: nodes.edge-01.streams[0].fps: unknown key (known: id, source, model, loop, realtime, track, motion, analytics, record, infer_every)"
            ),
            (
                "nodes:\n  edge-01:\n    streams:\n"
                    + "      - { id: a, source: \"rtsp://h/x\", model: ppocr-cls, loop: 1 }",
                "bad.yaml: nodes.edge-01.streams[0].loop: must be true or false"
            ),
        ])
    func limitsAndTypes(_ body: String, _ expected: String) {
        let (_, problems) = ServiceConfig.check(yaml: Self.config(body), file: "bad.yaml")
        #expect(problems.count == 1 && problems.first?.description.hasPrefix(expected) == true, "\(problems)")
    }

    /// `count` entries of a `streams` list, ids `prefix-0`..., on cameras (nothing to read).
    static func cameras(_ count: Int, _ prefix: String, indent: String = "  ") -> String {
        (0..<count).map { "\(indent)- { id: \(prefix)-\($0), source: \"rtsp://h/\($0)\", model: ppocr-cls }" }
            .joined(separator: "\n")
    }

    @Test("A node serves at most 64 streams: 65 shared are refused, and so is a node whose part makes 65")
    func streamLimit() {
        let full = Self.config("streams:\n" + Self.cameras(64, "cam"))
        let (config, none) = ServiceConfig.check(yaml: full, file: "fleet.yaml")
        #expect(none.isEmpty && config.streams.count == 64, "\(none)")

        let (_, shared) = ServiceConfig.check(
            yaml: Self.config("streams:\n" + Self.cameras(65, "cam")), file: "fleet.yaml")
        #expect(shared.map(\.description) == ["fleet.yaml: streams: 65 streams: a node serves at most 64"])

        let fleet = Self.config(
            "streams:\n" + Self.cameras(60, "cam") + "\nnodes:\n  edge-01:\n    streams:\n"
                + Self.cameras(5, "gate", indent: "      ") + "\n  edge-02:\n    streams:\n"
                + Self.cameras(4, "dock", indent: "      "))
        let (_, node) = ServiceConfig.check(yaml: fleet, file: "fleet.yaml")
        #expect(
            node.map(\.description) == [
                "fleet.yaml: nodes.edge-01.streams: node edge-01 would serve 65 streams (60 shared, 5 its own): "
                    + "a node serves at most 64"
            ])
    }

    @Test("Values decode into their types: bytes from MiB, seconds from ms, sizes sorted and distinct")
    func typedValues() throws {
        let config = try ServiceConfig.parse(
            yaml: Self.config(
                """
                server: { host: "10.0.0.1", port: 0, token_file: ~ }
                output: { events: /tmp/ev, rotate_mb: 16, keep: 7, clips: /tmp/clips, clips_mb: 32, clips_age_s: 60 }
                batching: { policy: aimd, sizes: [8, 2, 2], latency_slo_ms: 250 }
                sources: { timeout_s: 2.5 }
                device: GPU
                streams:
                  - { id: a, source: \(Self.video), model: pedestrian-ssdlite, track: true, record: { post_s: 2.5 },
                      analytics: { lines: [ { name: door, from: [1, 1], to: [9, 9] } ] } }
                nodes:
                """), file: "ok.yaml")
        #expect(config.clips == MediaStoreConfig(folder: "/tmp/clips", maxCount: 200, maxBytes: 32 << 20, maxAge: 60))
        #expect(config.snapshots.folder == "out/snapshots" && config.snapshots.maxBytes == 256 << 20)
        // pre_s defaults to 5 s.
        #expect(config.streams.first?.record == ClipSettings(preSeconds: 5, postSeconds: 2.5))
        #expect(config.host == "10.0.0.1" && config.port == 0 && config.tokenFile == nil)
        #expect(config.eventsFolder == "/tmp/ev" && config.rotateBytes == 16 << 20 && config.keep == 7)
        #expect(config.policy == .aimd && config.sizes == [2, 8] && config.latencySLO == 0.25)
        #expect(config.sourceTimeout == 2.5 && config.device == "GPU" && config.nodes.isEmpty)
        #expect(ServiceConfig.check(yaml: "", file: "empty.yaml").1.isEmpty)
        #expect(ServiceConfig.check(yaml: "# nothing\n", file: "empty.yaml").1.isEmpty)
        #expect(
            ServiceConfig.check(yaml: "[1, 2]", file: "list.yaml").1.map(\.description) == [
                "list.yaml: must be a mapping of keys to values"
            ])
    }

    @Test("infer_every: auto and motion: true decode into tracking the manager steers; a number stays fixed")
    func autoInterval() throws {
        let video = Self.video
        let config = try ServiceConfig.parse(
            yaml: Self.config(
                """
                streams:
                  - { id: a, source: \(video), model: pedestrian-ssdlite, track: true, infer_every: auto, motion: true }
                  - { id: b, source: \(video), model: pedestrian-ssdlite, track: true, infer_every: 4 }
                """), file: "ok.yaml")
        let a = try #require(config.streams.first)
        let b = try #require(config.streams.last)
        #expect(a.track && a.inferAuto && a.motion && a.inferEvery == 1 && a.tracking != nil)
        #expect(b.track && !b.inferAuto && !b.motion && b.inferEvery == 4)
    }

    @Test("Problems come in the file's order; a stream finds its model in a repository the file names further down")
    func fileOrder() {
        let yaml = """
            batching: { policy: fastest }
            streams:
              - { id: a, source: "rtsp://h/x", model: ppocr-cls }
            server: { port: 70000 }
            models: { repository: \(TestAssets.root.path)/models }
            colour: red
            """
        let (config, problems) = ServiceConfig.check(yaml: yaml, file: "late.yaml")
        #expect(
            problems.map(\.description) == [
                "late.yaml: batching.policy: unknown policy 'fastest': use one of fixed, realtime, slo, aimd",
                "late.yaml: server.port: must be within 0...65535",
                "late.yaml: colour: unknown key (known: server, models, output, batching, sources, device, streams, "
                    + "nodes, sinks)",
            ])
        #expect(config.streams.map(\.modelPath) == ["\(TestAssets.root.path)/models/ppocr-cls"])
    }

    @Test("A stream entry decodes from JSON as from YAML, with the same checks")
    func streamFromJSON() throws {
        let repository = TestAssets.root.path + "/models"
        func decode(_ json: String) throws -> StreamSpec {
            let context = StreamSpec.Context(repository: repository, sources: SourcePolicy(folders: nil))
            return try JSONDecoder().decode(StreamSpec.self, from: Data(json.utf8), configuration: context)
        }
        let spec = try decode(#"{"source": "rtsp://h/x", "model": "ppocr-cls", "loop": true}"#)
        #expect(spec.id == nil && spec.modelPath == repository + "/ppocr-cls" && spec.loop && !spec.realtime)
        for (json, expected) in [
            (#"{"source": "rtsp://h/x", "model": "ppocr-cls", "fps": 5}"#, "fps: unknown key"),
            (#"{"id": "a/b", "source": "rtsp://h/x", "model": "ppocr-cls"}"#, "id: 'a/b' is not a valid id"),
            (#"{"id": 5, "source": "rtsp://h/x", "model": "ppocr-cls"}"#, "id: must be a string"),
            (#"{"model": "ppocr-cls"}"#, "source: missing"),
            (#"{"source": "rtsp://h/x", "model": "ppocr-cls", "loop": "yes"}"#, "loop: must be true or false"),
            (#"{"source": "/nonexistent.mp4", "model": "ppocr-cls"}"#, "source: no such file"),
        ] {
            do {
                _ = try decode(json)
                Issue.record("\(json): taken")
            } catch {
                #expect("\(error)".hasPrefix(expected), "\(json): \(error)")
            }
        }
    }
}

@Suite("Service config: sinks")
struct SinkConfigTests {
    @Test("Sinks decode into specs: defaults, names by place, stream filters, the outbox folder")
    func sinksDecode() throws {
        let config = try ServiceConfig.parse(
            yaml: """
                output: { outbox: /var/lib/batchline/outbox }
                sinks:
                  - { type: mqtt, url: "mqtt://user:secret@10.0.0.5:1884", topic: site/a, streams: [door] }
                  - { type: webhook, name: alerts, url: "https://example.com/hook", headers: { Authorization: "Bearer x" }, outbox_mb: 8 }
                """, file: "ok.yaml")
        #expect(config.outboxFolder == "/var/lib/batchline/outbox")
        #expect(config.sinks.map(\.name) == ["mqtt-1", "alerts"])
        let mqtt = config.sinks[0]
        #expect(try mqtt.broker() == Broker(host: "10.0.0.5", port: 1884, user: "user", password: "secret"))
        #expect(mqtt.topic == "site/a" && mqtt.takes("door") && !mqtt.takes("yard"))
        #expect(!mqtt.redactedURL.contains("secret"))
        #expect(config.sinks[1].outboxBytes == 8 << 20 && config.sinks[1].headers["Authorization"] == "Bearer x")
        #expect(config.sinks[1].takes("yard"))
    }
}
