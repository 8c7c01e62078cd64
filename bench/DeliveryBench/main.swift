import Analytics
import Delivery
import Foundation

// Publishes COUNT analytics events through Batchline's MQTT sink (outbox included) to a broker on
// 127.0.0.1:PORT, RATE events a second (0: as fast as the sink takes them), each stamped with the
// wall-clock time it was recorded (`time`), so that a subscriber can tell each event's latency from
// record to arrival. Prints one JSON line: the events, the seconds from the first record to the last
// PUBACK, events a second.
//
// usage: DeliveryBench PORT COUNT RATE OUTBOX_FOLDER

let arguments = CommandLine.arguments
guard arguments.count == 5, let port = Int(arguments[1]), let count = Int(arguments[2]),
    let rate = Double(arguments[3])
else {
    FileHandle.standardError.write(Data("usage: DeliveryBench PORT COUNT RATE OUTBOX_FOLDER\n".utf8))
    exit(2)
}
var spec = SinkSpec(name: "bench", kind: .mqtt, url: "mqtt://127.0.0.1:\(port)")
spec.topic = "bench"
spec.outboxBytes = 1 << 30
let sinks = try EventSinks([spec], folder: arguments[4])
let delivering = Task { await sinks.run() }
while await sinks.statuses().first?.state != .connected { try await Task.sleep(for: .milliseconds(10)) }

let start = Date()
// The output stage records from a thread of its own; so does this.
let recorder = Thread {
    for i in 0..<count {
        if rate > 0 {
            let due = start.addingTimeInterval(Double(i) / rate)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
        let event = AnalyticsEvent(
            id: "bench-\(i)", type: .lineCrossed, line: "door", track: UInt64(i), direction: .inward,
            time: Date().timeIntervalSince1970)
        sinks.record(stream: "cam", events: [event], counts: nil)
    }
}
recorder.start()
while await (sinks.statuses().first?.sent ?? 0) < count { try await Task.sleep(for: .milliseconds(5)) }
let seconds = Date().timeIntervalSince(start)
let status = await sinks.statuses().first!
delivering.cancel()
_ = await delivering.value
print(
    #"{"events": \#(count), "seconds": \#(seconds), "events_per_s": \#(Double(count) / seconds), "retried": \#(status.retried), "dropped": \#(status.dropped)}"#
)
