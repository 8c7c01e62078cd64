import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The sinks with real peers: Debian's mosquitto and a paho-mqtt subscriber with a persistent
/// session, and a webhook receiver; the broker stopped for 15 s, the receiver answering 500, and
/// `serve` SIGKILLed in the middle of it: every event of the events files arrives, in order.
@Suite("Sinks: nothing lost when the broker, the receiver or Batchline goes down", .serialized)
struct SinkDeliveryTests {
    static func config(folder: URL, broker: Int, webhook: Int) -> String {
        """
        server: { host: 127.0.0.1, port: 8080 }
        models: { repository: models }
        output: { events: \(folder.path)/events, outbox: \(folder.path)/outbox, snapshots: \(folder.path)/snapshots, flush_s: 0.2 }
        sinks:
          - { type: mqtt, name: broker, url: "mqtt://127.0.0.1:\(broker)", topic: site }
          - { type: webhook, name: hook, url: "http://127.0.0.1:\(webhook)/events", timeout_s: 5 }
        streams:
          - id: yard
            source: \(TestAssets.video)
            model: pedestrian-ssdlite
            loop: true
            realtime: true
            track: true
            analytics:
              lines: [ { name: middle, from: [384, 0], to: [384, 575] } ]
              zones: [ { name: west, points: [[0, 0], [384, 0], [384, 575], [0, 575]] } ]
        """
    }

    /// Every analytics event of the stream's events files (the current one and the rotated ones, the
    /// oldest first), in order.
    static func fileEvents(_ folder: URL) throws -> [[String: Any]] {
        let names = ["yard.jsonl.3", "yard.jsonl.2", "yard.jsonl.1", "yard.jsonl"]
        return try names.flatMap { name -> [[String: Any]] in
            let path = folder.appendingPathComponent("events/\(name)").path
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").flatMap { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return object?["events"] as? [[String: Any]] ?? []
            }
        }
    }

    /// The ids of `payloads` (JSON events), the first of each kept, in order of arrival.
    static func firstArrivals(_ payloads: [String]) -> (ids: [String], duplicates: Int) {
        var seen = Set<String>()
        var ids: [String] = []
        for p in payloads {
            guard let object = try? JSONSerialization.jsonObject(with: Data(p.utf8)) as? [String: Any],
                let id = object["id"] as? String
            else { continue }
            if seen.insert(id).inserted { ids.append(id) }
        }
        return (ids, payloads.count - ids.count)
    }

    static func sink(_ reply: HTTPReply, _ name: String) -> [String: Any]? {
        reply.array?.first { $0["name"] as? String == name }
    }

    @Test(
        "Broker stopped 15 s and the webhook answering 500 while events flow, serve SIGKILLed in the outage and started again: every event of the events files reaches the subscriber and the receiver, once after dedup, in order",
        .enabled(if: MosquittoBroker.isInstalled, "needs Debian's mosquitto (scripts/bootstrap.sh --test-peers)")
    )
    func outageAndKill() async throws {
        let testStart = Date().timeIntervalSince1970
        let folder = TestAssets.temporaryDirectory("sinks")
        defer { try? FileManager.default.removeItem(at: folder) }
        let broker = try MosquittoBroker()
        let subscriber = try MQTTSubscriber(port: broker.port, topic: "site", folder: folder)
        let receiver = try WebhookReceiver(folder: folder)
        let config = Self.config(folder: folder, broker: broker.port, webhook: receiver.port)

        var serve = try ServeProcess(config: config)
        try #require(try await serve.poll("/v2/health/ready", timeout: 120) { $0.status == 200 }.status == 200)
        // Events flow to both peers.
        let flowing = try await serve.poll("/api/v1/sinks", timeout: 120) { reply in
            ["broker", "hook"].allSatisfy { (Self.sink(reply, $0)?["sent"] as? Int ?? 0) >= 2 }
        }
        try #require(
            ["broker", "hook"].allSatisfy { (Self.sink(flowing, $0)?["sent"] as? Int ?? 0) >= 2 },
            "\(String(decoding: flowing.data, as: UTF8.self))\n\(serve.stderr.suffix(2000))")

        // The outage: the broker stops, the receiver refuses; events go on entering the outboxes.
        let outage = Date()
        broker.stop()
        receiver.failing = true
        let waiting = try await serve.poll("/api/v1/sinks", timeout: 60) { reply in
            ["broker", "hook"].allSatisfy { name in
                let s = Self.sink(reply, name)
                return s?["state"] as? String == "retrying" && (s?["outbox_depth"] as? Int ?? 0) >= 2
            }
        }
        let broker1 = Self.sink(waiting, "broker") ?? [:]
        #expect(broker1["state"] as? String == "retrying", "\(broker1)")
        #expect((broker1["last_error"] as? String)?.isEmpty == false, "\(broker1)")
        #expect(
            (Self.sink(waiting, "hook")?["last_error"] as? String)?.contains("500") == true, "\(waiting.array ?? [])")

        // SIGKILL in the middle of the outage, then the same config again: the outboxes are found.
        _ = serve.stop(signal: SIGKILL)
        serve = try ServeProcess(config: config)
        try #require(try await serve.poll("/v2/health/ready", timeout: 120) { $0.status == 200 }.status == 200)
        let restarted = try await serve.request("GET", "/api/v1/sinks")
        #expect(
            ["broker", "hook"].allSatisfy { (Self.sink(restarted, $0)?["outbox_depth"] as? Int ?? 0) >= 2 },
            "the outboxes kept what was not delivered: \(restarted.array ?? [])")

        // 15 s after it stopped, the broker comes back; the receiver takes events again.
        let left = 15 - Date().timeIntervalSince(outage)
        if left > 0 { try await Task.sleep(for: .milliseconds(Int(left * 1000))) }
        try broker.start()
        receiver.failing = false
        _ = try await serve.poll("/api/v1/sinks", timeout: 120) { reply in
            ["broker", "hook"].allSatisfy { (Self.sink(reply, $0)?["state"] as? String) == "connected" }
        }
        // No more events: the stream goes, its file closes; then both outboxes drain.
        #expect(try await serve.request("DELETE", "/api/v1/streams/yard").status == 204)
        let drained = try await serve.poll("/api/v1/sinks", timeout: 120) { reply in
            ["broker", "hook"].allSatisfy { (Self.sink(reply, $0)?["outbox_depth"] as? Int ?? 1) == 0 }
        }
        #expect(
            ["broker", "hook"].allSatisfy { (Self.sink(drained, $0)?["outbox_depth"] as? Int ?? 1) == 0 },
            "\(drained.array ?? [])")
        // Each event's snapshot, those of the run killed included: a JPEG of the frame.
        let ids = try Self.fileEvents(folder).compactMap { $0["id"] as? String }
        var snapshots = 0
        for id in [ids.first, ids.last].compactMap({ $0 }) {
            let reply = try await serve.request("GET", "/api/v1/events/\(id)/snapshot.jpg")
            #expect(reply.status == 200 && reply.data.starts(with: [0xFF, 0xD8]) && reply.data.count > 2000, "\(id)")
            if reply.status == 200 { snapshots += 1 }
        }
        #expect(snapshots == 2)
        #expect(try await serve.request("GET", "/api/v1/events/nobody-1/snapshot.jpg").status == 404)
        #expect(try await serve.request("GET", "/api/v1/events/..%2Fx/snapshot.jpg").status == 400)
        let metrics = String(decoding: try await serve.request("GET", "/metrics").data, as: UTF8.self)
        #expect(metrics.contains(#"batchline_sink_sent_total{sink="broker"}"#))
        #expect(metrics.contains(#"batchline_outbox_depth{sink="hook"} 0"#), "\(metrics.suffix(3000))")
        #expect(serve.stop().status == 0)
        // A clean stop says `offline` (QoS 0: it may land just after the exit).
        let deadline = Date().addingTimeInterval(10)
        while subscriber.messages.last(where: { $0.topic == "site/available" })?.payload != "offline", Date() < deadline
        {
            try await Task.sleep(for: .milliseconds(100))
        }

        let written = try Self.fileEvents(folder).compactMap { $0["id"] as? String }
        try #require(written.count >= 4, "too few events to tell: \(written.count)")
        #expect(Set(written).count == written.count, "event ids are unique across the restart")

        let messages = subscriber.messages
        let events = messages.filter { $0.topic == "site/yard/events" }
        let (mqttIDs, mqttDuplicates) = Self.firstArrivals(events.map(\.payload))
        let missing = Set(written).subtracting(mqttIDs)
        #expect(missing.isEmpty, "\(missing.count) of \(written.count) events never reached the subscriber")
        // In order: the events files' order, among what the subscriber got first.
        let writtenSet = Set(written)
        #expect(mqttIDs.filter(writtenSet.contains) == written, "MQTT order differs from the events files'")
        // Each message says when its frame was read (seconds since 1970), within this test's run.
        let frameTimes = events.compactMap { message in
            (try? JSONSerialization.jsonObject(with: Data(message.payload.utf8)) as? [String: Any])?["frame_time"]
                as? Double
        }
        #expect(frameTimes.count == events.count, "messages without frame_time")
        #expect(frameTimes.allSatisfy { $0 >= testStart && $0 <= Date().timeIntervalSince1970 })
        #expect(messages.contains { $0.topic == "site/yard/counts" && $0.payload.contains("\"middle\"") })
        #expect(messages.last { $0.topic == "site/available" }?.payload == "offline", "a clean stop says offline")

        let (hookIDs, hookDuplicates) = Self.firstArrivals(receiver.bodies)
        #expect(Set(written).subtracting(hookIDs).isEmpty, "events never posted to the webhook")
        #expect(hookIDs.filter(writtenSet.contains) == written, "webhook order differs from the events files'")
        print(
            "delivery: \(written.count) events in the files; MQTT \(events.count) messages, \(mqttDuplicates) duplicates; "
                + "webhook \(receiver.bodies.count) posts, \(hookDuplicates) duplicates")
    }
}
