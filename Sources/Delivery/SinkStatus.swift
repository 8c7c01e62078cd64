import CoreMetrics
import Foundation
import Synchronization

/// Where a sink is: connecting, connected (delivering), or waiting to retry after a failure.
public enum SinkState: String, Sendable, Equatable, Encodable {
    case connecting, connected, retrying, stopped
}

/// A sink as `GET /api/v1/sinks` shows it.
public struct SinkStatus: Sendable, Equatable, Encodable {
    public var name: String
    public var type: String
    public var url: String
    public var state: SinkState
    public var lastError: String?
    /// Messages waiting in its outbox, and their bytes.
    public var outboxDepth: Int
    public var outboxBytes: Int
    /// Seconds the oldest waiting message has waited (nil: none waits).
    public var oldestAgeS: Double?
    /// Messages acknowledged, sent again, dropped (the outbox full or the disk refusing).
    public var sent: Int
    public var retried: Int
    public var dropped: Int
    /// Why the outbox's disk refuses appends, while it does.
    public var outboxFailure: String?

    enum CodingKeys: String, CodingKey {
        case name, type, url, state, sent, retried, dropped
        case lastError = "last_error"
        case outboxDepth = "outbox_depth"
        case outboxBytes = "outbox_bytes"
        case oldestAgeS = "oldest_age_s"
        case outboxFailure = "outbox_failure"
    }
}

/// A sink's live figures, shared by its worker (which moves them) and whoever reads them; and its
/// series: `batchline_outbox_depth{sink}`, `batchline_outbox_oldest_timestamp_seconds{sink}`
/// (age: `time() - it`), `batchline_sink_sent_total{sink}`, `batchline_sink_retried_total{sink}`,
/// `batchline_outbox_dropped_total{sink}`, `batchline_sink_delivery_seconds{sink}` (from the reading
/// of an event's frame to the peer's acknowledgement: frame to PUBACK, or to the webhook's 2xx).
final class SinkFigures: Sendable {
    private struct Live {
        var state = SinkState.connecting
        var lastError: String?
        var sent = 0
        var retried = 0
        var droppedTold = 0
        /// When the oldest's time was last read (a query), for its gauge.
        var oldestRead = -Double.infinity
    }

    private let live = Mutex(Live())
    let spec: SinkSpec
    let outbox: Outbox
    private let depthGauge: Gauge
    private let oldestGauge: Gauge
    private let sentCounter: Counter
    private let retriedCounter: Counter
    private let droppedCounter: Counter
    private let delivery: CoreMetrics.Timer

    init(spec: SinkSpec, outbox: Outbox, metrics: any MetricsFactory) {
        self.spec = spec
        self.outbox = outbox
        let dims = [("sink", spec.name)]
        depthGauge = Gauge(label: "batchline_outbox_depth", dimensions: dims, factory: metrics)
        oldestGauge = Gauge(label: "batchline_outbox_oldest_timestamp_seconds", dimensions: dims, factory: metrics)
        sentCounter = Counter(label: "batchline_sink_sent_total", dimensions: dims, factory: metrics)
        retriedCounter = Counter(label: "batchline_sink_retried_total", dimensions: dims, factory: metrics)
        droppedCounter = Counter(label: "batchline_outbox_dropped_total", dimensions: dims, factory: metrics)
        delivery = CoreMetrics.Timer(
            label: "batchline_sink_delivery_seconds", dimensions: dims, preferredDisplayUnit: .seconds,
            factory: metrics)
    }

    func moved(to state: SinkState, error: String? = nil) {
        live.withLock { l in
            l.state = state
            if let error { l.lastError = error }
        }
    }

    /// `messages` were acknowledged now.
    func delivered(_ messages: [Outbox.Message]) {
        let now = Date().timeIntervalSince1970
        live.withLock { $0.sent += messages.count }
        sentCounter.increment(by: messages.count)
        for m in messages where m.kind == .event {
            delivery.recordNanoseconds(Int64(max(0, now - m.created) * 1e9))
        }
    }

    func retried(_ n: Int) {
        guard n > 0 else { return }
        live.withLock { $0.retried += n }
        retriedCounter.increment(by: n)
    }

    /// Brings the outbox's series up to date (after every append it is told of, every ack); the
    /// oldest's time, a query, at most once a second.
    func refresh() async {
        depthGauge.record(outbox.depth)
        let now = Date().timeIntervalSince1970
        let dropped = outbox.dropped
        let (new, readOldest) = live.withLock { l in
            defer { l.droppedTold = dropped }
            let due = now - l.oldestRead >= 1
            if due { l.oldestRead = now }
            return (dropped - l.droppedTold, due)
        }
        if new > 0 { droppedCounter.increment(by: new) }
        if outbox.depth == 0 {
            oldestGauge.record(0)
        } else if readOldest {
            oldestGauge.record((try? await outbox.oldest()) ?? 0)
        }
    }

    func status() async -> SinkStatus {
        let oldest = try? await outbox.oldest()
        let l = live.withLock { $0 }
        return SinkStatus(
            name: spec.name, type: spec.kind.rawValue, url: spec.redactedURL, state: l.state, lastError: l.lastError,
            outboxDepth: outbox.depth, outboxBytes: outbox.bytes,
            oldestAgeS: oldest.map { max(0, Date().timeIntervalSince1970 - $0) }, sent: l.sent, retried: l.retried,
            dropped: outbox.dropped, outboxFailure: outbox.failure)
    }
}
