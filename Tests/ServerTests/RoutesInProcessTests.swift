import Analytics
import Batching
import Core
import EdgeNode
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import Server

/// The routes and their errors, in process (HummingbirdTesting's router framework) on a real node:
/// the real detector serving a real video. No server process, no port.
@Suite("Routes in process", .serialized)
struct RoutesInProcessTests {
    /// A node with one looping real-time stream, started; its events folder under `dir`.
    static func startedNode(_ dir: URL) async throws -> EdgeService {
        let yaml = """
            models: { repository: \(TestAssets.root.appendingPathComponent("models").path) }
            output: { events: \(dir.path) }
            batching: { policy: realtime, sizes: [1, 2, 4] }
            sources: { timeout_s: 3 }
            streams:
              - { id: yard, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
            """
        let config = try ServiceConfig.parse(yaml: yaml, file: "in-process.yaml")
        let service = EdgeService(config: config, logger: Logger(label: "test"))
        return service
    }

    static func json(_ response: TestResponse) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
    }

    @Test(
        "Every route's errors in process: 404 unknown, 405 with Allow, 400 naming the key, 409 duplicate, 413 too large, 401 without the token; each one line of JSON"
    )
    func errors() async throws {
        let dir = TestAssets.temporaryDirectory("routes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try await Self.startedNode(dir)
        try await service.start()
        let token = "0123456789abcdef0123456789abcdef"
        let app = Application(responder: ControlPlane.responder(service, token: token))
        let video = TestAssets.video
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/v2/health/live", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/v2/health/ready", method: .get).status == .ok)
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let cases:
                [(method: HTTPRequest.Method, uri: String, body: String?, auth: Bool, status: Int, error: String)] = [
                    (.get, "/api/v1/streams/nobody", nil, false, 404, "no stream 'nobody'"),
                    (.delete, "/api/v1/streams/nobody", nil, true, 404, "no stream 'nobody'"),
                    (.get, "/api/v1/streams/bad.id", nil, false, 400, "bad.id"),
                    (.patch, "/api/v1/streams", "{}", true, 405, "PATCH"),
                    (.post, "/api/v1/streams", "not json", true, 400, "JSON"),
                    (
                        .post, "/api/v1/streams",
                        #"{"id":"a","source":"\#(video)","model":"pedestrian-ssdlite","fps":5}"#, true, 400, "fps"
                    ),
                    (.post, "/api/v1/streams", #"{"id":"a","model":"pedestrian-ssdlite"}"#, true, 400, "source"),
                    (
                        .post, "/api/v1/streams", #"{"id":"a","source":"/nowhere.mp4","model":"pedestrian-ssdlite"}"#,
                        true, 400, "/nowhere.mp4"
                    ),
                    (
                        .post, "/api/v1/streams", #"{"id":"yard","source":"\#(video)","model":"pedestrian-ssdlite"}"#,
                        true, 409, "yard"
                    ),
                    (
                        .post, "/api/v1/streams", #"{"id":"a","source":"\#(video)","model":"pedestrian-ssdlite"}"#,
                        false, 401, "token"
                    ),
                    (.put, "/api/v1/batching", #"{"policy":"fixed","batch_size":3}"#, true, 400, "one of 1, 2, 4"),
                    (.post, "/api/v1/models/nothing/activate", #"{"version":1}"#, true, 404, "nothing"),
                ]
            for c in cases {
                let reply = try await client.execute(
                    uri: c.uri, method: c.method, headers: c.auth ? auth : [:],
                    body: c.body.map { ByteBuffer(string: $0) })
                let error = Self.json(reply)?["error"] as? String ?? ""
                #expect(Int(reply.status.code) == c.status, "\(c.method) \(c.uri): \(reply.status) \(error)")
                #expect(error.contains(c.error) && !error.contains("\n"), "\(c.method) \(c.uri): '\(error)'")
                if c.status == 405 { #expect(reply.headers[.allow] == "GET, POST") }
            }
            let huge = ByteBuffer(repeating: UInt8(ascii: " "), count: ControlPlane.maxBody + 1)
            let tooLarge = try await client.execute(uri: "/api/v1/streams", method: .post, headers: auth, body: huge)
            #expect(tooLarge.status == .contentTooLarge, "\(tooLarge.status)")
            // Nothing was added or lost meanwhile.
            let streams = try await client.execute(uri: "/api/v1/streams", method: .get)
            let ids =
                (try? JSONSerialization.jsonObject(with: Data(String(buffer: streams.body).utf8)) as? [[String: Any]])?
                .compactMap { $0["id"] as? String }
            #expect(ids == ["yard"])
        }
        await service.shutdown()
    }

    @Test(
        "The node tells each change where it happens: a stream added over the API goes connecting -> running -> ended -> removed, each change once, in order; every batch size decision told once"
    )
    func toldEvents() async throws {
        let dir = TestAssets.temporaryDirectory("told")
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try await Self.startedNode(dir)
        let told = try #require(service.events.subscribe())
        let collected = Mutex<[NodeEvent]>([])
        let collector = Task {
            for await event in told { collected.withLock { $0.append(event) } }
        }
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        try await app.test(.router) { client in
            let body = #"{"id":"porch","source":"\#(TestAssets.video)","model":"pedestrian-ssdlite"}"#
            let added = try await client.execute(
                uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            // The file is read to its end (not paced): the stream ends by itself.
            let handle = try #require(service.handle("porch"))
            #expect(await handle.waitUntilComplete(timeout: .seconds(300)))
            let removed = try await client.execute(uri: "/api/v1/streams/porch", method: .delete)
            #expect(removed.status == .noContent)
        }
        // What the batch size manager recorded so far (it may decide once more while stopping).
        let recorded = service.servedModels.first?.batching(keep: 2000).decisions ?? []
        await service.shutdown()
        service.events.finish()
        await collector.value

        let events = collected.withLock { $0 }
        let porch = events.compactMap { e -> StreamChange? in
            if case .stream(let c) = e, c.stream == "porch" { return c }
            return nil
        }
        #expect(porch.map(\.to) == ["connecting", "running", "ended", "removed"], "\(porch)")
        #expect(porch.first?.from == nil)
        // A chain: each change starts where the one before ended.
        for (before, after) in zip(porch, porch.dropFirst()) { #expect(after.from == before.to, "\(porch)") }
        let yard = events.compactMap { e -> StreamChange? in
            if case .stream(let c) = e, c.stream == "yard" { return c }
            return nil
        }
        #expect(yard.map(\.to).prefix(2) == ["connecting", "running"], "\(yard)")
        let toldDecisions = events.compactMap { e -> BatchDecision? in
            if case .decision(_, let d) = e { return d }
            return nil
        }
        #expect(!recorded.isEmpty)
        #expect(
            Array(toldDecisions.prefix(recorded.count)) == recorded,
            "told \(toldDecisions.count), recorded \(recorded.count)")
        // Those told after the look (the manager may decide again while the streams stop) are each
        // told once too: one decision, one event, in the order they were made.
        #expect(
            zip(toldDecisions, toldDecisions.dropFirst()).allSatisfy { $0.time <= $1.time && $0 != $1 },
            "\(toldDecisions)")
        #expect(service.events.dropped == 0)
    }

    @Test(
        "A stream added with track and infer_every 2: every frame in its events once, the detector on every other one, track ids on the rest; infer_every without track is a 400 naming it"
    )
    func trackedStream() async throws {
        let dir = TestAssets.temporaryDirectory("tracked")
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try await Self.startedNode(dir)
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        let video = TestAssets.video
        try await app.test(.router) { client in
            let refused = try await client.execute(
                uri: "/api/v1/streams", method: .post,
                body: ByteBuffer(
                    string: #"{"id":"gate","source":"\#(video)","model":"pedestrian-ssdlite","infer_every":2}"#))
            #expect(refused.status == .badRequest)
            let needsTrack = Self.json(refused)?["error"] as? String ?? ""
            #expect(needsTrack.contains("infer_every: needs track: true"))
            for bad in [#""sometimes""#, "0", "-1", "2.5"] {
                let refused = try await client.execute(
                    uri: "/api/v1/streams", method: .post,
                    body: ByteBuffer(
                        string:
                            #"{"source":"\#(video)","model":"pedestrian-ssdlite","track":true,"infer_every":\#(bad)}"#
                    ))
                #expect(refused.status == .badRequest, "infer_every \(bad)")
                let message = Self.json(refused)?["error"] as? String ?? ""
                #expect(message.contains("infer_every: must be a whole number"))
            }
            // auto and motion: told back as set, the interval in force beside.
            let auto = try await client.execute(
                uri: "/api/v1/streams", method: .post,
                body: ByteBuffer(
                    string:
                        #"{"id":"steered","source":"\#(video)","model":"pedestrian-ssdlite","track":true,"infer_every":"auto","motion":true,"realtime":true}"#
                ))
            #expect(auto.status == .created, "\(String(buffer: auto.body))")
            let steered = Self.json(try await client.execute(uri: "/api/v1/streams/steered", method: .get)) ?? [:]
            #expect(steered["infer_auto"] as? Bool == true && steered["motion"] as? Bool == true, "\(steered)")
            #expect((steered["infer_every"] as? Int ?? 0) >= 1 && steered["skipped"] is [String: Int], "\(steered)")
            let removed = try await client.execute(uri: "/api/v1/streams/steered", method: .delete)
            #expect(removed.status == .noContent)
            let body = #"{"id":"gate","source":"\#(video)","model":"pedestrian-ssdlite","track":true,"infer_every":2}"#
            let added = try await client.execute(uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            let handle = try #require(service.handle("gate"))
            #expect(await handle.waitUntilComplete(timeout: .seconds(300)))
            let info = try await client.execute(uri: "/api/v1/streams/gate", method: .get)
            let object = Self.json(info) ?? [:]
            #expect(object["track"] as? Bool == true && object["infer_every"] as? Int == 2, "\(object)")
            #expect((object["tracked"] as? Int ?? 0) >= 397 && object["frames"] as? Int == 795, "\(object)")
        }
        await service.shutdown()
        let text = try String(contentsOf: dir.appendingPathComponent("gate.jsonl"), encoding: .utf8)
        let lines = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.count == 795 && lines.enumerated().allSatisfy { $1["frame"] as? Int == $0 })
        let skipped = lines.filter { $0["inferred"] as? Bool == false }
        #expect(skipped.count == 397 || skipped.count == 398, "\(skipped.count) of \(lines.count) left to the tracker")
        for (a, b) in zip(lines, lines.dropFirst()) {
            #expect((a["inferred"] as? Bool ?? true) != (b["inferred"] as? Bool ?? true), "\(a["frame"] ?? -1)")
        }
        let tracks = skipped.flatMap { $0["detections"] as? [[String: Any]] ?? [] }
        #expect(tracks.contains { $0["track"] is Int })
        // A skipped frame's boxes without an id are the detected frame's before it, unmoved.
        for (a, b) in zip(lines, lines.dropFirst()) where b["inferred"] as? Bool == false {
            func key(_ d: [String: Any]) -> [Double] { (d["box"] as? [Double] ?? []) + [d["score"] as? Double ?? -1] }
            let held = (a["detections"] as? [[String: Any]] ?? []).filter { $0["track"] == nil }.map(key)
            for d in b["detections"] as? [[String: Any]] ?? [] where d["track"] == nil {
                #expect(held.contains(key(d)), "frame \(b["frame"] ?? -1): \(d) neither tracked nor held")
            }
        }
    }
}

extension RoutesInProcessTests {
    @Test(
        "A stream added with analytics: its events file carries line crossings and zone events with unique ids and wall-clock times; analytics without track, or a bad line, is a 400 naming it"
    )
    func analyticsStream() async throws {
        let dir = TestAssets.temporaryDirectory("analytics")
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try await Self.startedNode(dir)
        let told = try #require(service.events.subscribe())
        let collected = Mutex<[String]>([])
        let collector = Task {
            for await event in told {
                if case .analytics(let stream, let e) = event, stream == "gate" {
                    collected.withLock { $0.append(e.id) }
                }
            }
        }
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        let video = TestAssets.video
        let analytics =
            #"{"lines":[{"name":"mid","from":[384,150],"to":[384,576]}],"zones":[{"name":"plaza","points":[[100,300],[700,300],[700,570],[100,570]]}]}"#
        try await app.test(.router) { client in
            for (body, words) in [
                (
                    #"{"source":"\#(video)","model":"pedestrian-ssdlite","analytics":\#(analytics)}"#,
                    "analytics: needs track: true"
                ),
                (
                    #"{"source":"\#(video)","model":"pedestrian-ssdlite","track":true,"analytics":{"lines":[{"name":"a","from":[1,1],"to":[1,1]}]}}"#,
                    "lines[0] (a): from and to are the same point"
                ),
            ] {
                let refused = try await client.execute(
                    uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
                #expect(refused.status == .badRequest)
                let message = Self.json(refused)?["error"] as? String ?? ""
                #expect(message.contains(words), "\(message)")
            }
            let body =
                #"{"id":"gate","source":"\#(video)","model":"pedestrian-ssdlite","track":true,"analytics":\#(analytics)}"#
            let added = try await client.execute(uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            let handle = try #require(service.handle("gate"))
            #expect(await handle.waitUntilComplete(timeout: .seconds(300)))
            // The counts, as the events say them.
            let counts = Self.json(try await client.execute(uri: "/api/v1/streams/gate/analytics", method: .get)) ?? [:]
            let mid = (counts["lines"] as? [[String: Any]])?.first ?? [:]
            #expect(
                mid["name"] as? String == "mid" && (mid["in"] as? Int ?? 0) + (mid["out"] as? Int ?? 0) > 0, "\(counts)"
            )
            let zone = (counts["zones"] as? [[String: Any]])?.first ?? [:]
            #expect(zone["name"] as? String == "plaza" && (zone["occupancy"] as? Int ?? -1) >= 0, "\(counts)")
            let none = try await client.execute(uri: "/api/v1/streams/nope/analytics", method: .get)
            #expect(none.status == .notFound)
        }
        await service.shutdown()
        let text = try String(contentsOf: dir.appendingPathComponent("gate.jsonl"), encoding: .utf8)
        let events = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.flatMap { $0["events"] as? [[String: Any]] ?? [] }
        let ids = events.compactMap { $0["id"] as? String }
        #expect(!ids.isEmpty && Set(ids).count == ids.count && ids.allSatisfy { $0.contains("-gate-") })
        #expect(events.contains { $0["type"] as? String == "line_crossed" && $0["direction"] is String })
        #expect(events.contains { $0["type"] as? String == "zone_entered" })
        // A service's events carry the wall clock.
        #expect(events.allSatisfy { ($0["time"] as? Double ?? 0) > 1_700_000_000 })
        // The node told each of them as it happened, in order (the event feed relays them).
        service.events.finish()
        await collector.value
        #expect(collected.withLock { $0 } == ids)
    }
}
