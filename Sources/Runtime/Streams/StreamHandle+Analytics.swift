import Analytics
import CoreMetrics
import Synchronization

/// A stream's line crossings and zone occupancy (`GET /api/v1/streams/{id}/analytics`).
public struct AnalyticsCounts: Sendable, Equatable, Encodable {
    public struct Line: Sendable, Equatable, Encodable {
        public var name: String
        public var `in`: Int
        public var out: Int
    }

    public struct Zone: Sendable, Equatable, Encodable {
        public var name: String
        public var occupancy: Int
    }

    public var stream: String
    public var lines: [Line]
    public var zones: [Zone]

    /// Nothing counted yet on `spec`'s lines and zones.
    init(stream: String, spec: AnalyticsSpec?) {
        self.stream = stream
        lines = (spec?.lines ?? []).map { Line(name: $0.name, in: 0, out: 0) }
        zones = (spec?.zones ?? []).map { Zone(name: $0.name, occupancy: 0) }
    }
}

/// Where a stream's analytics events go besides its events file and the node's event feed (a
/// node's sinks): told on the output's thread where they were counted, before the frame's line is
/// written, so that every event an events file holds was handed over first. It must not wait for
/// anything but a local disk.
public protocol AnalyticsRecorder: Sendable {
    func record(stream: String, events: [AnalyticsEvent], counts: AnalyticsCounts)
}

extension StreamHandle {
    /// Its lines' crossings and zones' occupancy now.
    public var analytics: AnalyticsCounts { analyticsCounts.withLock { $0 } }

    /// The output counted `events` on a frame: the counts as they are after it, and the series moved.
    func analysed(_ events: [AnalyticsEvent], crossings: [(inward: Int, outward: Int)], occupancy: [Int]) {
        analyticsCounts.withLock { c in
            for (i, n) in crossings.enumerated() where i < c.lines.count {
                c.lines[i].in = n.inward
                c.lines[i].out = n.outward
            }
            for (i, n) in occupancy.enumerated() where i < c.zones.count { c.zones[i].occupancy = n }
        }
        let lines = metrics.crossings
        for e in events where e.type == .lineCrossed {
            guard let i = analyticsCounts.withLock({ c in c.lines.firstIndex { $0.name == e.line } }), i < lines.count
            else { continue }
            if e.direction == .inward { lines[i].inward.increment() } else { lines[i].outward.increment() }
        }
        for (i, n) in occupancy.enumerated() where i < metrics.occupancy.count { metrics.occupancy[i].record(n) }
        if let recorder, !events.isEmpty { recorder.record(stream: id, events: events, counts: analytics) }
        if let tellAnalytics { events.forEach(tellAnalytics) }
    }
}
