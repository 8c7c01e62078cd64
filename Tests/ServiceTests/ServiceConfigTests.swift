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
}
