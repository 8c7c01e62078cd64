import EdgeNode
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ModelServing
import NIOCore
import Runtime
import TestSupport
import Testing

@testable import Server

/// Shadow evaluation on a node, in process, on the real detector and vtest.avi.
@Suite("Shadow evaluation of a version on the node's own frames")
struct ShadowRoutesTests {
    @Test(
        "A version judged beside the serving one on the stream's frames: the same weights agree at F1 1 over the frames asked; a version that cannot load fails with the reason; refusals are 400 and 404"
    )
    func shadow() async throws {
        let dir = TestAssets.temporaryDirectory("shadow")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Versions 1 and 2 of the detector (the same weights); 3, added once serving, is not a model.
        let repo = dir.appendingPathComponent("models")
        let model = repo.appendingPathComponent("pedestrian")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for v in ["1", "2"] {
            try FileManager.default.copyItem(
                at: URL(fileURLWithPath: TestAssets.detector), to: model.appendingPathComponent(v))
        }
        let yaml = """
            models: { repository: \(repo.path), watch: false }
            output: { events: \(dir.path)/events }
            batching: { policy: realtime, sizes: [1, 2] }
            streams:
              - { id: yard, source: \(TestAssets.video), model: pedestrian, loop: true, realtime: true }
            """
        let config = try ServiceConfig.parse(yaml: yaml, file: "shadow.yaml")
        #expect(config.watch == false)
        let service = EdgeService(config: config, logger: Logger(label: "test"))
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        try await app.test(.router) { client in
            func post(_ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/api/v1/models/pedestrian/shadow", method: .post, body: ByteBuffer(string: body))
            }
            func figures() async throws -> [String: Any] {
                let reply = try await client.execute(uri: "/api/v1/models/pedestrian/shadow", method: .get)
                return RoutesInProcessTests.json(reply) ?? [:]
            }
            func finished() async throws -> [String: Any] {
                let deadline = Date().addingTimeInterval(300)
                var now = try await figures()
                while ["loading", "running"].contains(now["state"] as? String ?? ""), Date() < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    now = try await figures()
                }
                return now
            }
            try FileManager.default.copyItem(
                at: URL(fileURLWithPath: TestAssets.detector), to: model.appendingPathComponent("3"))
            try Data("not a graph".utf8).write(to: model.appendingPathComponent("3/frozen_inference_graph.pb"))
            let handle = try #require(service.handle("yard"))
            let started = Date().addingTimeInterval(120)
            while handle.latest == nil, Date() < started { try await Task.sleep(for: .milliseconds(100)) }

            #expect(try await post(#"{"version":2,"frames":0}"#).status == .badRequest)
            #expect(try await post(#"{"frames":5}"#).status == .badRequest)
            #expect(try await post(#"{"version":9}"#).status == .notFound)
            #expect(
                try await client.execute(uri: "/api/v1/models/nobody/shadow", method: .get).status == .notFound)

            // Version 2 serves (3 came later, and the node does not watch): judge 1 against it.
            let serving = try #require(service.servedPipeline(named: "pedestrian")?.models?.status.version)
            #expect(serving == 2)
            let same = 1
            let begun = try await post(#"{"version":\#(same),"frames":8,"every_ms":100}"#)
            #expect(begun.status == .accepted, "\(String(buffer: begun.body))")
            let done = try await finished()
            #expect(done["state"] as? String == "done", "\(done)")
            #expect(done["frames"] as? Int == 8 && done["serving_version"] as? Int == serving)
            #expect(done["agreement"] as? Double == 1 && (done["mean_iou"] as? Double ?? 0) > 0.999, "\(done)")

            #expect(try await post(#"{"version":3,"frames":5,"every_ms":100}"#).status == .accepted)
            let failed = try await finished()
            #expect(failed["state"] as? String == "failed", "\(failed)")
            #expect((failed["reason"] as? String ?? "").contains("cannot be loaded"), "\(failed)")
        }
        await service.shutdown()
    }
}
