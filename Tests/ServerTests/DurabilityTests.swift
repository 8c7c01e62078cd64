import Foundation
import TestSupport
import Testing

/// What a restart, a SIGKILL and a full disk cost a real `serve`: nothing written is lost.
@Suite("Nothing lost on restart or a full disk", .serialized)
struct DurabilityTests {
    static func config(events: String) -> String {
        ServeTests.config(
            events: events,
            streams: """
                  - { id: yard, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
                """
        ).replacingOccurrences(of: "output: { events: \(events) }", with: "output: { events: \(events), flush_s: 0.2 }")
    }

    static func frames(_ path: String) throws -> [Int] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("\n"), "\(path) ends in a split line")
        return try text.split(separator: "\n").flatMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let frame = try #require(object?["frame"] as? Int, "not an event line: \(line.prefix(80))")
            return Array(frame...(object?["through"] as? Int ?? frame))
        }
    }

    @Test(
        "A full disk under a running camera: readiness 503 naming it, events_error and the metric say so, lines held; space back: ready again, nothing lost; SIGKILL then restart: the old file kept whole beside the new",
        .enabled(if: SmallDisk.canMount, "needs a tmpfs: root or CAP_SYS_ADMIN")
    )
    func fullDiskThenRestart() async throws {
        let (made, why) = SmallDisk.make(kilobytes: 2048)
        let disk = try #require(made, "\(why ?? "")")
        defer { disk.remove() }
        let serve = try ServeProcess(config: Self.config(events: disk.path))
        try #require(try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }.status == 200)
        _ = try await serve.poll("/api/v1/streams/yard", timeout: 60) { ($0.object?["frames"] as? Int ?? 0) >= 10 }

        let filler = try disk.fill()
        let refused = try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 503 }
        #expect(refused.status == 503 && refused.error?.contains("yard") == true, "\(refused.error ?? "")")
        let failing = try await serve.request("GET", "/api/v1/streams/yard")
        #expect(
            (failing.object?["events_error"] as? String)?.contains("No space left") == true, "\(failing.object ?? [:])")
        #expect(failing.object?["state"] as? String == "running")
        let metrics = String(decoding: try await serve.request("GET", "/metrics").data, as: UTF8.self)
        #expect(metrics.contains(#"batchline_events_write_failing{stream="yard"} 1"#))
        let framesWhileFull = failing.object?["frames"] as? Int ?? 0

        try FileManager.default.removeItem(atPath: filler)
        let back = try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }
        #expect(back.status == 200, "\(back.error ?? "")")
        let writing = try await serve.poll("/api/v1/streams/yard", timeout: 60) {
            ($0.object?["frames"] as? Int ?? 0) > framesWhileFull + 5
        }
        #expect(writing.object?["events_error"] is NSNull, "\(writing.object ?? [:])")
        #expect(writing.object?["events_lost"] as? Int == 0)

        // SIGKILL, then start again on the same folder.
        _ = serve.stop(signal: SIGKILL)
        let again = try ServeProcess(config: Self.config(events: disk.path))
        try #require(try await again.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }.status == 200)
        _ = try await again.poll("/api/v1/streams/yard", timeout: 60) { ($0.object?["frames"] as? Int ?? 0) >= 5 }
        let (status, _) = again.stop()
        #expect(status == 0)
        // The first run's lines: whole, from frame 0, with nothing missing inside (what the kill
        // took is at most its last flush interval, at the end).
        let before = try Self.frames(disk.path + "/yard.jsonl.1")
        #expect(before == Array(0..<before.count) && before.count > framesWhileFull, "\(before.count) lines")
        let after = try Self.frames(disk.path + "/yard.jsonl")
        #expect(after == Array(0..<after.count) && after.count >= 5)
    }
}
