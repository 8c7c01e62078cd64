import Analytics
import Foundation
import TestSupport
import Testing

@testable import Delivery

/// The MQTT sink against Debian's mosquitto, in this process: no pipeline, events recorded by hand.
@Suite("MQTT sink with a real broker", .serialized)
struct MQTTSinkTests {
    static func events(_ range: Range<Int>) -> [AnalyticsEvent] {
        range.map { i in
            let json =
                #"{"id":"run-s-\#(i)","type":"line_crossed","line":"door","track":\#(i),"direction":"in","time":\#(i)}"#
            return try! JSONDecoder().decode(AnalyticsEvent.self, from: Data(json.utf8))
        }
    }

    static func waitFor(_ timeout: Double, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while await !condition(), Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
    }

    @Test(
        "A broker unreachable at start: the sink says retrying with the error and the outbox keeps the events; the broker starts: all delivered once, in order, counts retained, online said",
        .enabled(if: MosquittoBroker.isInstalled, "needs Debian's mosquitto (scripts/bootstrap.sh --test-peers)")
    )
    func unreachableThenUp() async throws {
        let folder = TestAssets.temporaryDirectory("mqtt-sink")
        defer { try? FileManager.default.removeItem(at: folder) }
        let broker = try MosquittoBroker(start: false)
        var spec = SinkSpec(name: "b", kind: .mqtt, url: "mqtt://127.0.0.1:\(broker.port)")
        spec.topic = "t"
        spec.retryMax = 1
        let sinks = try EventSinks([spec], folder: folder.appendingPathComponent("outbox").path)
        let delivering = Task { await sinks.run() }
        defer { delivering.cancel() }

        sinks.record(stream: "s", events: Self.events(0..<300), counts: Data(#"{"n":300}"#.utf8))
        try await Self.waitFor(30) { await sinks.statuses().first?.state == .retrying }
        let down = try #require(await sinks.statuses().first)
        #expect(down.state == .retrying && down.lastError?.contains("connect") == true, "\(down)")
        #expect(down.outboxDepth == 301 && down.sent == 0)

        try broker.start()
        let subscriber = try MQTTSubscriber(port: broker.port, topic: "t", folder: folder)
        sinks.record(stream: "s", events: Self.events(300..<400), counts: Data(#"{"n":400}"#.utf8))
        try await Self.waitFor(60) { await sinks.statuses().first?.outboxDepth == 0 }
        try await Self.waitFor(30) { subscriber.messages.filter { $0.topic == "t/s/events" }.count >= 400 }
        let status = try #require(await sinks.statuses().first)
        #expect(status.state == .connected && status.outboxDepth == 0 && status.sent == 401, "\(status)")

        let messages = subscriber.messages
        // Subscribed after the first 300 were sent: those came retained (counts) or not at all; the
        // subscriber's own session starts at its connect. What it got, it got in order, once each.
        let ids = messages.filter { $0.topic == "t/s/events" }.compactMap { m in
            (try? JSONSerialization.jsonObject(with: Data(m.payload.utf8)) as? [String: Any])?["id"] as? String
        }
        #expect(ids.suffix(100) == (300..<400).map { "run-s-\($0)" })
        #expect(Set(ids).count == ids.count)
        let first = try #require(messages.first { $0.topic == "t/s/events" }?.payload)
        #expect(first.contains(#""stream":"s""#) && first.contains(#""type":"line_crossed""#))
        #expect(messages.last { $0.topic == "t/s/counts" }?.payload == #"{"n":400}"#)
        #expect(messages.contains { $0.topic == "t/available" && $0.payload == "online" })
    }

    @Test(
        "mqtts://: with the CA that signed the broker's certificate, delivered; with the system's roots, retrying with the certificate's error; a missing ca_file refused at start",
        .enabled(if: MosquittoBroker.isInstalled, "needs Debian's mosquitto (scripts/bootstrap.sh --test-peers)")
    )
    func tls() async throws {
        let folder = TestAssets.temporaryDirectory("mqtt-tls")
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try makeTestCertificates(in: folder)
        let broker = try MosquittoBroker(tls: certificates)
        var trusted = SinkSpec(name: "trusted", kind: .mqtt, url: "mqtts://127.0.0.1:\(broker.port)")
        trusted.topic = "t"
        trusted.caFile = certificates.ca
        var strange = SinkSpec(name: "strange", kind: .mqtt, url: "mqtts://localhost:\(broker.port)")
        strange.topic = "t"
        strange.retryMax = 1
        let sinks = try EventSinks([trusted, strange], folder: folder.appendingPathComponent("outbox").path)
        let delivering = Task { await sinks.run() }
        defer { delivering.cancel() }
        sinks.record(stream: "s", events: Self.events(0..<20), counts: nil)
        try await Self.waitFor(60) {
            let all = await sinks.statuses()
            return all.first?.sent == 20 && all.last?.state == .retrying
        }
        let all = await sinks.statuses()
        #expect(all[0].state == .connected && all[0].sent == 20 && all[0].outboxDepth == 0, "\(all[0])")
        #expect(all[1].state == .retrying && all[1].sent == 0 && all[1].outboxDepth == 20, "\(all[1])")
        #expect(all[1].lastError?.lowercased().contains("certificate") == true, "\(all[1].lastError ?? "")")

        var missing = trusted
        missing.caFile = folder.appendingPathComponent("nope.pem").path
        #expect(throws: SinkError.self) { try EventSinks([missing], folder: folder.appendingPathComponent("o2").path) }
    }

    @Test("A sink whose outbox folder cannot be made, or two of one name, is refused in one line")
    func refusedAtStart() throws {
        let spec = SinkSpec(name: "b", kind: .mqtt, url: "mqtt://127.0.0.1:1")
        #expect(throws: SinkError.self) { try EventSinks([spec], folder: "/proc/nope/outbox") }
        #expect(throws: SinkError("two sinks are named b")) { try EventSinks([spec, spec], folder: "/tmp/x") }
    }
}
