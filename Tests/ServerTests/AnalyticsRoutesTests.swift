import EdgeNode
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Runtime
import TestSupport
import Testing

@testable import Server

/// `PUT /api/v1/streams/{id}/analytics` on a running stream, in process, on the real detector.
@Suite("Analytics replaced on a running stream")
struct AnalyticsRoutesTests {
    @Test(
        "A running tracked stream gets lines and zones by PUT and counts with them; replaced again, counts begin again and event ids go on; a point outside the frame is a 400, an unknown stream 404, an untracked one 409"
    )
    func replaceWhileRunning() async throws {
        let dir = TestAssets.temporaryDirectory("analytics-put")
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try await RoutesInProcessTests.startedNode(dir)
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        @Sendable func put(_ id: String, _ body: String) -> (URI: String, body: ByteBuffer) {
            ("/api/v1/streams/\(id)/analytics", ByteBuffer(string: body))
        }
        let door = #"{"lines":[{"name":"mid","from":[384,150],"to":[384,576]}]}"#
        try await app.test(.router) { client in
            let body =
                #"{"id":"gate","source":"\#(TestAssets.video)","model":"pedestrian-ssdlite","track":true,"realtime":true,"loop":true}"#
            let added = try await client.execute(uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            let handle = try #require(service.handle("gate"))
            let deadline = Date().addingTimeInterval(120)
            while handle.latest == nil, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }

            for (id, json, status, words) in [
                (
                    "gate", #"{"lines":[{"name":"far","from":[10,10],"to":[5000,10]}]}"#,
                    HTTPResponse.Status.badRequest, "far"
                ),
                ("gate", #"{"lines":[{"name":"a","from":[1,1],"to":[1,1]}]}"#, .badRequest, "the same point"),
                ("gate", #"{"counters":[]}"#, .badRequest, "counters"),
                ("gate", "[1]", .badRequest, "JSON object"),
                ("nope", door, .notFound, "nope"),
                ("yard", door, .conflict, "not tracked"),
            ] {
                let (uri, buffer) = put(id, json)
                let refused = try await client.execute(uri: uri, method: .put, body: buffer)
                let message = RoutesInProcessTests.json(refused)?["error"] as? String ?? ""
                #expect(refused.status == status && message.contains(words), "\(json): \(refused.status) \(message)")
            }

            let (uri, buffer) = put("gate", door)
            let replaced = try await client.execute(uri: uri, method: .put, body: buffer)
            #expect(replaced.status == .ok, "\(String(buffer: replaced.body))")
            #expect(String(buffer: replaced.body).contains(#""in":0"#))
            // It counts with them: someone crosses the middle of vtest.avi within a loop.
            var crossed = 0
            while crossed == 0, Date() < deadline.addingTimeInterval(120) {
                try await Task.sleep(for: .milliseconds(200))
                let line = handle.analytics.lines.first
                crossed = (line?.in ?? 0) + (line?.out ?? 0)
            }
            #expect(crossed > 0, "no crossing counted after the PUT")
            #expect(service.stream("gate") != nil)

            let (again, other) = put("gate", #"{"zones":[{"name":"west","points":[[0,0],[384,0],[384,575],[0,575]]}]}"#)
            let second = try await client.execute(uri: again, method: .put, body: other)
            #expect(second.status == .ok)
            #expect(handle.analytics.lines.isEmpty && handle.analytics.zones.map(\.name) == ["west"])
            var entered = false
            while !entered, Date() < deadline.addingTimeInterval(240) {
                try await Task.sleep(for: .milliseconds(200))
                entered = (handle.analytics.zones.first?.occupancy ?? 0) > 0
            }
            #expect(entered, "nobody entered the west half after the second PUT")
        }
        await service.shutdown()
        let text = try String(contentsOf: dir.appendingPathComponent("gate.jsonl"), encoding: .utf8)
        let events = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.flatMap { $0["events"] as? [[String: Any]] ?? [] }
        let ids = events.compactMap { $0["id"] as? String }
        #expect(Set(ids).count == ids.count, "event ids go on across the replacement")
        #expect(events.contains { $0["line"] as? String == "mid" })
        #expect(events.contains { $0["zone"] as? String == "west" && $0["type"] as? String == "zone_entered" })
        // The zone's events come after every line's: the first lines were replaced, not added to.
        let firstZone = events.firstIndex { $0["zone"] != nil } ?? 0
        #expect(!events[firstZone...].contains { $0["line"] != nil })
    }
}
