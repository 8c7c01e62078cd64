import Foundation
import Logging
import ModelServing
import Runtime
import Server
import TestSupport
import Testing

/// A `run`'s control socket: the model routes of `serve`, on a Unix socket, through the CLI's client.
@Suite("A run's control socket", .serialized)
struct ControlSocketTests {
    @Test("Status is answered while an activation waits on a slow load; the activation answers once swapped")
    func statusDuringLoad() async throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The whole clip, stopped once the swap is answered: the run outlasts the test's steps.
        var options = PipelineOptions(source: TestAssets.video, model: "-")
        options.realtime = true
        let path = dir.appendingPathComponent("control.sock").path
        // A slow model to load: held until the test has had its status answer, however long that takes.
        let loadHeld = DispatchSemaphore(value: 0)
        let pipeline = DetectionPipeline(
            options: options, engine: ScriptedEngine(tag: "scripted@1") { _ in 0.002 },
            loader: { version in
                // The loader runs on the blocking executor: a blocking wait is what it is for.
                _ = loadHeld.wait(timeout: .now() + .seconds(60))
                return ScriptedEngine(tag: "scripted@\(version)") { _ in 0.002 }
            })
        defer { pipeline.stop() }
        let socket = try await ControlSocket.prepare(path: path, derived: false)
        let run = Task { try await RunLifecycle.run(pipeline, control: socket, logger: Logger(label: "test")) }
        let client = ControlClient(socket: path)
        // The socket answers once the model is ready.
        var listed: ControlClient.Reply?
        for _ in 0..<600 where listed == nil {
            listed = try? await client.send(.GET, "/api/v1/models")
            if listed == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let first = try #require(listed)
        #expect(first.status == 200 && String(decoding: first.body, as: UTF8.self).contains("\"version\":1"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600, "the socket is its owner's alone")

        let activation = Task {
            try await client.send(.POST, "/api/v1/models/-/activate", body: Data("{\"version\": 2}".utf8))
        }
        // Asked while the activation waits on its load, status is answered and says a swap is under way.
        var status = ""
        for _ in 0..<600 where !status.contains("\"swapping\":true") {
            status = String(decoding: try await client.send(.GET, "/api/v1/models").body, as: UTF8.self)
            if !status.contains("\"swapping\":true") { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(status.contains("\"swapping\":true") && status.contains("\"version\":1"), "\(status)")
        #expect(activation.isCancelled == false)
        loadHeld.signal()
        let swapped = try await activation.value
        #expect(
            swapped.status == 200 && String(decoding: swapped.body, as: UTF8.self).contains("\"outcome\":\"swapped\""))
        // A second run cannot take a live socket.
        await #expect {
            _ = try await ControlSocket.prepare(path: path, derived: false)
        } throws: { error in
            "\(error)".contains("another batchline run is listening")
        }
        pipeline.stop()
        let report = try await run.value
        #expect(report.stats.modelSwaps.map(\.outcome) == [.swapped])
        #expect(!FileManager.default.fileExists(atPath: path), "the socket goes with the run")
        // Nobody listens any more: the client says so.
        await #expect {
            _ = try await client.send(.GET, "/api/v1/models")
        } throws: { error in
            "\(error)".contains("no batchline run is listening")
        }
    }
}
