import Foundation
import TestSupport
import Testing

@testable import Server

@Suite("Control routes and authentication", .serialized)
struct ControlRoutesTests {
    @Test(
        "With server.token_file every mutating route answers 401 without the token or with a wrong one; the token is made owner-only and never logged; models, batching and system routes work with it"
    )
    func tokenAndRoutes() async throws {
        let dir = TestAssets.temporaryDirectory("control")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenFile = dir.appendingPathComponent("secret/serve.token").path
        let config = ServeTests.config(
            events: dir.appendingPathComponent("events").path,
            streams: """
                  - { id: yard, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
                """
        ).replacingOccurrences(
            of: "server: { host: 127.0.0.1, port: 8080 }",
            with: "server: { host: 127.0.0.1, port: 8080, token_file: \(tokenFile) }")
        let serve = try ServeProcess(config: config)
        try #require(try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }.status == 200)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(token.count == 64)
        let mode = try FileManager.default.attributesOfItem(atPath: tokenFile)[.posixPermissions] as? Int
        #expect(mode == 0o600, "token file mode \(String(mode ?? 0, radix: 8))")
        #expect(serve.stderr.contains("a new bearer token is in \(tokenFile)"))

        let mutating: [(String, String, String?)] = [
            ("POST", "/api/v1/streams", #"{"id":"x","source":"\#(TestAssets.video)","model":"pedestrian-ssdlite"}"#),
            ("DELETE", "/api/v1/streams/yard", nil),
            ("POST", "/api/v1/models/pedestrian-ssdlite/activate", #"{"version":1}"#),
            ("POST", "/api/v1/models/pedestrian-ssdlite/rollback", nil),
            ("PUT", "/api/v1/batching", #"{"policy":"fixed","batch_size":2}"#),
            ("POST", "/v2/repository/models/ppocr-cls/load", "{}"),
            ("POST", "/v2/repository/models/pedestrian-ssdlite/unload", "{}"),
        ]
        for (method, path, body) in mutating {
            for header in [nil, "Bearer not-the-token", "Basic \(token)"] {
                let reply = try await serve.request(
                    method, path, body: body.map { Data($0.utf8) }, authorization: header)
                #expect(reply.status == 401, "\(method) \(path) with \(header ?? "no token"): \(reply.status)")
                #expect(reply.error != nil)
            }
        }
        // Nothing changed meanwhile.
        #expect(try await serve.request("GET", "/api/v1/streams/yard").status == 200)
        let bearer = "Bearer \(token)"

        // Batching: fixed at a compiled size, then back to the manager; bad values refused.
        let fixed = try await serve.request(
            "PUT", "/api/v1/batching", body: Data(#"{"policy":"fixed","batch_size":2}"#.utf8), authorization: bearer)
        #expect(fixed.status == 200, "\(fixed.error ?? "")")
        let now = try await serve.request("GET", "/api/v1/batching")
        let entry = (try? JSONSerialization.jsonObject(with: now.data) as? [[String: Any]])?.first
        let batching = entry?["batching"] as? [String: Any]
        #expect(batching?["policy"] as? String == "fixed" && batching?["batch_size"] as? Int == 2, "\(batching ?? [:])")
        for bad in [
            #"{"policy":"fastest"}"#, #"{"policy":"fixed","batch_size":3}"#, #"{"policy":"slo","latency_slo_ms":-5}"#,
            #"{"speed":1}"#,
        ] {
            let reply = try await serve.request("PUT", "/api/v1/batching", body: Data(bad.utf8), authorization: bearer)
            #expect(reply.status == 400, "\(bad): \(reply.status) \(reply.error ?? "")")
        }
        // Typed bodies: each refusal one line naming the key.
        let typed: [(path: String, body: String, error: String)] = [
            ("/api/v1/batching", #"{"policy":"fixed","sizez":2}"#, "unknown key 'sizez'"),
            ("/api/v1/batching", #"{"policy":"fixed","batch_size":2.5}"#, "batch_size: expected an integer"),
            ("/api/v1/batching", #"{"policy":7}"#, "policy: expected a string"),
            ("/api/v1/batching", #"{"policy":"fixed","model":null}"#, "model: expected a string, not null"),
            ("/api/v1/batching", #"{"policy":"slo","latency_slo_ms":"fast"}"#, "latency_slo_ms: expected a number"),
            ("/api/v1/batching", #"{"batch_size":2}"#, "policy: give one of"),
            ("/api/v1/batching", "[]", "the body must be a JSON object"),
            ("/api/v1/models/pedestrian-ssdlite/activate", #"{"version":1.5}"#, "version: expected an integer"),
            ("/api/v1/models/pedestrian-ssdlite/activate", #"{"version":1,"force":true}"#, "unknown key 'force'"),
            ("/api/v1/models/pedestrian-ssdlite/activate", "{}", "version: give the version number to serve"),
        ]
        for r in typed {
            let method = r.path.hasSuffix("activate") ? "POST" : "PUT"
            let reply = try await serve.request(method, r.path, body: Data(r.body.utf8), authorization: bearer)
            #expect(reply.status == 400, "\(r.body): \(reply.status)")
            #expect(reply.error?.hasPrefix(r.error) == true, "\(r.body): \(reply.error ?? "no error")")
        }
        // An integral JSON number is an integer (2.0) and a number (300).
        let integral = try await serve.request(
            "PUT", "/api/v1/batching", body: Data(#"{"policy":"fixed","batch_size":2.0,"latency_slo_ms":300}"#.utf8),
            authorization: bearer)
        #expect(integral.status == 200, "\(integral.error ?? "")")
        let back = try await serve.request(
            "PUT", "/api/v1/batching", body: Data(#"{"policy":"realtime","latency_slo_ms":300}"#.utf8),
            authorization: bearer)
        #expect(back.status == 200)

        // Models: the version served, the repository's versions; activating the one serving is refused.
        let models = try await serve.request("GET", "/api/v1/models")
        let model = (try? JSONSerialization.jsonObject(with: models.data) as? [[String: Any]])?.first
        #expect(model?["name"] as? String == "pedestrian-ssdlite" && model?["version"] as? Int == 1, "\(model ?? [:])")
        #expect(model?["versions"] as? [Int] == [1])
        let same = try await serve.request(
            "POST", "/api/v1/models/pedestrian-ssdlite/activate", body: Data(#"{"version":1}"#.utf8),
            authorization: bearer)
        #expect(
            same.status == 409 && same.error?.contains("already serving") == true, "\(same.status) \(same.error ?? "")")

        let system = try await serve.request("GET", "/api/v1/system")
        #expect((system.object?["machine"] as? [String: Any])?["cores"] as? Int ?? 0 >= 1, "\(system.object ?? [:])")
        #expect(system.object?["streams"] as? Int == 1)

        // The stream's latest frame with its boxes, as a JPEG that FFmpeg reads back.
        let snapshot = try await serve.request("GET", "/api/v1/streams/yard/snapshot.jpg")
        #expect(snapshot.status == 200)
        let jpeg = [UInt8](snapshot.data)
        #expect(jpeg.count > 10_000 && jpeg.prefix(3) == [0xFF, 0xD8, 0xFF] && jpeg.suffix(2) == [0xFF, 0xD9])
        let picture = dir.appendingPathComponent("snapshot.jpg")
        try snapshot.data.write(to: picture)
        let probe = try runProcess(
            URL(fileURLWithPath: "/usr/bin/ffprobe"),
            ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", picture.path], timeout: 30)
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "768,576", "\(probe.stdout)")
        #expect(try await serve.request("GET", "/api/v1/streams/nobody/snapshot.jpg").status == 404)

        // `batchline models` over HTTP.
        let modelStatus = try runBatchline(
            ["models", "status", "pedestrian-ssdlite", "--server", serve.address, "--token-file", tokenFile])
        #expect(
            modelStatus.status == 0 && modelStatus.stdout.contains("\"version\":1"),
            "\(modelStatus.stdout) \(modelStatus.stderr)")
        let refused = try runBatchline(
            ["models", "activate", "pedestrian-ssdlite", "1", "--server", serve.address, "--token-file", tokenFile])
        #expect(refused.status == 1 && refused.stderr.contains("already serving"), "\(refused.stderr)")
        let noToken = try runBatchline(["models", "rollback", "pedestrian-ssdlite", "--server", serve.address])
        #expect(noToken.status == 1 && noToken.stderr.contains("Authorization"), "\(noToken.stderr)")

        // The right token removes the stream.
        #expect(try await serve.request("DELETE", "/api/v1/streams/yard", authorization: bearer).status == 204)
        let (status, _) = serve.stop()
        #expect(status == 0)
        #expect(!serve.stderr.contains(token), "the token appears in the log")
    }

    @Test("Batching and activate bodies decode into typed values: unknown keys, nulls, 2.5 for an integer refused")
    func typedBodies() throws {
        func change(_ json: String) -> Result<RestRoutes.BatchingChange, BodyRefusal> {
            RequestDecoding.decode(RestRoutes.BatchingChange.self, from: Data(json.utf8), notAnObject: "not an object")
        }
        let full = try change(#"{"policy":"slo","batch_size":4,"latency_slo_ms":250,"model":"m"}"#).get()
        #expect(full.policy == "slo" && full.batchSize == 4 && full.latencySLOms == 250 && full.model == "m")
        let partial = try change(#"{"policy":"realtime","latency_slo_ms":12.5}"#).get()
        #expect(partial.batchSize == nil && partial.latencySLOms == 12.5 && partial.model == nil)
        for (json, message) in [
            (
                #"{"policy":"fixed","sizez":2}"#,
                "unknown key 'sizez' (known: policy, batch_size, latency_slo_ms, model)"
            ),
            (#"{"policy":"fixed","batch_size":2.5}"#, "batch_size: expected an integer"),
            (#"{"policy":"fixed","batch_size":true}"#, "batch_size: expected an integer"),
            (#"{"policy":"fixed","batch_size":1e30}"#, "batch_size: expected an integer"),
            (#"{"policy":["fixed"]}"#, "policy: expected a string"),
            (#"{"policy":null}"#, "policy: expected a string, not null"),
            (#"{"policy":"slo","latency_slo_ms":false}"#, "latency_slo_ms: expected a number"),
            ("[1]", "not an object"),
            ("{", "not an object"),
        ] {
            switch change(json) {
            case .success: Issue.record("\(json) decoded")
            case .failure(let refusal):
                #expect(
                    refusal.message == message && "\(refusal.status)".hasPrefix("400"), "\(json): \(refusal.message)")
            }
        }
        let activate = RequestDecoding.decode(
            ActivateRequest.self, from: Data(#"{"version":3}"#.utf8), notAnObject: "")
        #expect(try activate.get().version == 3)
    }
}
