import Foundation
import Server
import TestSupport
import Testing
import Yams

@Suite("OpenAPI document", .serialized)
struct OpenAPITests {
    /// Each documented path's methods.
    static func documented(_ text: String?) throws -> [String: Set<String>] {
        let yaml = try #require(text)
        let document = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        var documented: [String: Set<String>] = [:]
        for (path, item) in paths {
            let methods = (item as? [String: Any] ?? [:]).keys.filter { $0 != "parameters" }.map { $0.uppercased() }
            documented[path] = Set(methods)
        }
        return documented
    }

    @Test("The document's paths and methods are the routes' (no drift either way)")
    func noDrift() throws {
        let routes = Dictionary(uniqueKeysWithValues: ControlPlane.apiRoutes.map { ($0.path, Set($0.methods)) })
        #expect(try Self.documented(ControlPlane.openAPIDocument) == routes)
    }

    @Test(
        "schemathesis against the live server, with the token: no 5xx, schema-violating requests refused, every response as documented"
    )
    func schemathesis() async throws {
        let dir = TestAssets.temporaryDirectory("openapi")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenFile = dir.appendingPathComponent("token").path
        _ = FileManager.default.createFile(
            atPath: tokenFile, contents: Data("schemathesis-test-token-0123456789\n".utf8),
            attributes: [.posixPermissions: 0o600])
        let config = ServeTests.config(
            events: dir.appendingPathComponent("events").path,
            streams: """
                  - { id: one, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
                """
        ).replacingOccurrences(
            of: "server: { host: 127.0.0.1, port: 8080 }",
            with: "server: { host: 127.0.0.1, port: 8080, token_file: \(tokenFile) }")
        let serve = try ServeProcess(config: config)
        try #require(try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }.status == 200)
        let tool = TestAssets.root.appendingPathComponent(".deps/venv/bin/schemathesis").path
        let result = try runProcess(
            URL(fileURLWithPath: tool),
            [
                "run", serve.address + "/api/v1/openapi.yaml", "--url", serve.address, "--checks", "all",
                "--max-examples", "15", "--seed", "1", "-H", "Authorization: Bearer schemathesis-test-token-0123456789",
                "--exclude-path", "/api/v1/events",
                // What a schema cannot say (the file exists, the model is in the repository, the size
                // is one compiled) is refused with 400 as specified; schemathesis would read those as
                // valid requests rejected. Every other check runs.
                "--exclude-checks", "positive_data_acceptance",
            ], timeout: 400)
        let tail = result.stdout.split(separator: "\n").suffix(40).joined(separator: "\n")
        print(tail)
        #expect(result.status == 0, "schemathesis found failures:\n\(result.stdout.suffix(6000))")
        #expect(serve.isRunning, "the server is still up")
        let (status, _) = serve.stop()
        #expect(status == 0)
    }
}

@Suite("The fleet's OpenAPI document")
struct FleetOpenAPITests {
    @Test("Its paths and methods are the fleet's routes (no drift either way)")
    func noDrift() throws {
        let routes = Dictionary(uniqueKeysWithValues: FleetRoutes.apiRoutes.map { ($0.path, Set($0.methods)) })
        #expect(try OpenAPITests.documented(FleetRoutes.openAPIDocument) == routes)
    }
}
