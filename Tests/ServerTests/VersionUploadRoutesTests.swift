import EdgeNode
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import Testing

@testable import Server

/// A node's own repository over HTTP, in process: a version uploaded as a tar archive, and a model
/// loaded at a version that is not its latest.
@Suite("Versions uploaded to a node, and loaded at the version asked")
struct VersionUploadRoutesTests {
    @Test(
        "PUT a version as GNU tar's archive: 201, then 200 for the same files; 401 without the token; a bad archive or number is a 400 leaving nothing; past three uploads the oldest goes; a node that watches its repository takes none; load at version 1 with later ones on disk serves 1, then 5 is staged when asked"
    )
    func uploadAndLoad() async throws {
        let dir = TestAssets.temporaryDirectory("upload")
        defer { try? FileManager.default.removeItem(at: dir) }
        let repo = dir.appendingPathComponent("models")
        let model = repo.appendingPathComponent("pedestrian")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: TestAssets.detector), to: model.appendingPathComponent("1"))
        let tokenFile = dir.appendingPathComponent("token")
        try Data("upload-test-token\n".utf8).write(to: tokenFile)
        let yaml = """
            server: { token_file: \(tokenFile.path) }
            models: { repository: \(repo.path), watch: false }
            output: { events: \(dir.path)/events }
            batching: { policy: realtime, sizes: [1] }
            """
        let service = EdgeService(
            config: try ServiceConfig.parse(yaml: yaml, file: "upload.yaml"), logger: Logger(label: "test"))
        try await service.start()
        // GNU tar's archive of the detector's version folder, as a user would send it.
        let tar = ByteBuffer(bytes: try TestAssets.tarArchive(of: TestAssets.detector))
        let app = Application(responder: ControlPlane.responder(service, token: "upload-test-token"))
        let auth: HTTPFields = [.authorization: "Bearer upload-test-token"]
        try await app.test(.router) { client in
            func put(_ path: String, _ body: ByteBuffer, headers: HTTPFields = auth) async throws -> TestResponse {
                try await client.execute(uri: path, method: .put, headers: headers, body: body)
            }
            #expect(try await put("/api/v1/models/pedestrian/versions/2", tar, headers: [:]).status == .unauthorized)
            let added = try await put("/api/v1/models/pedestrian/versions/2", tar)
            #expect(added.status == .created, "\(String(buffer: added.body))")
            #expect(try await put("/api/v1/models/pedestrian/versions/2", tar).status == .ok)
            let garbage = try await put("/api/v1/models/pedestrian/versions/3", ByteBuffer(repeating: 7, count: 2048))
            #expect(garbage.status == .badRequest && String(buffer: garbage.body).contains("checksum"))
            #expect(try await put("/api/v1/models/pedestrian/versions/x1", tar).status == .badRequest)
            let left = try FileManager.default.contentsOfDirectory(atPath: repo.path).filter { $0.hasPrefix(".") }
            #expect(left.isEmpty, "\(left)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: model.path).sorted() == ["1", "2"])
            // One version per rollout: past the newest three uploaded, the oldest upload goes; 1,
            // copied in by hand, stays.
            for v in 3...5 {
                #expect(try await put("/api/v1/models/pedestrian/versions/\(v)", tar).status == .created)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: model.path).sorted() == ["1", "3", "4", "5"])

            // Version 1 asked for, with 2 the latest on disk.
            func load(_ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v2/repository/models/pedestrian/load", method: .post, headers: auth,
                    body: ByteBuffer(string: body))
            }
            func entry() async throws -> [String: Any]? {
                let reply = try await client.execute(uri: "/api/v1/models", method: .get)
                let list =
                    (try? JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView))) as? [[String: Any]]
                return list?.first
            }
            func served() async throws -> Int? { try await entry()?["version"] as? Int }
            #expect(try await load(#"{"parameters":{"version":1}}"#).status == .ok)
            #expect(try await served() == 1)
            #expect(try await load(#"{"parameters":{"version":9}}"#).status == .notFound)
            #expect(try await load(#"{"parameters":{"version":"one"}}"#).status == .badRequest)
            // Asked for 5 while serving 1 with no stream: the swap is staged (it serves from the
            // model's next batch, none comes here), not waited for.
            #expect(try await load(#"{"parameters":{"version":5}}"#).status == .ok)
            let swaps = try await entry()?["swaps"] as? [[String: Any]] ?? []
            #expect(swaps.last?["to"] as? Int == 5, "\(swaps)")
        }
        await service.shutdown()

        // A node that swaps to new versions on its own (models.watch) takes none: it would serve
        // an upload at once, before any rollout judged it.
        let watching = EdgeService(
            config: try ServiceConfig.parse(
                yaml: yaml.replacingOccurrences(of: ", watch: false", with: ""), file: "watching.yaml"),
            logger: Logger(label: "test"))
        try await watching.start()
        try await Application(responder: ControlPlane.responder(watching, token: "upload-test-token")).test(.router) {
            client in
            let refused = try await client.execute(
                uri: "/api/v1/models/pedestrian/versions/7", method: .put, headers: auth, body: tar)
            #expect(refused.status == .conflict && String(buffer: refused.body).contains("models.watch: false"))
        }
        await watching.shutdown()
        #expect(!FileManager.default.fileExists(atPath: model.appendingPathComponent("7").path))
    }
}
