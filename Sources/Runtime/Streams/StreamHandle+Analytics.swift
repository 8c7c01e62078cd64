import Analytics
import CoreMetrics
import Foundation
import Synchronization
import VideoIO

/// A stream's line crossings and zone occupancy (`GET /api/v1/streams/{id}/analytics`).
public struct AnalyticsCounts: Sendable, Equatable, Encodable {
    public struct Line: Sendable, Equatable, Encodable {
        public var name: String
        public var `in`: Int
        public var out: Int
        /// Where it is: [x, y] in pixels of the source frame.
        public var from: [Double] = []
        public var to: [Double] = []
        public var anchor = Anchor.bottomCentre
        /// The classes it counts (nil: all).
        public var classes: [String]?
    }

    public struct Zone: Sendable, Equatable, Encodable {
        public var name: String
        public var occupancy: Int
        /// Its corners: [x, y] in pixels of the source frame.
        public var points: [[Double]] = []
        public var loiterSeconds: Double?
        public var anchor = Anchor.bottomCentre
        public var classes: [String]?

        enum CodingKeys: String, CodingKey {
            case name, occupancy, points, anchor, classes
            case loiterSeconds = "loiter_s"
        }
    }

    public var stream: String
    public var lines: [Line]
    public var zones: [Zone]

    /// Nothing counted yet on `spec`'s lines and zones.
    init(stream: String, spec: AnalyticsSpec?) {
        self.stream = stream
        lines = (spec?.lines ?? []).map {
            Line(
                name: $0.name, in: 0, out: 0, from: [$0.from.x, $0.from.y], to: [$0.to.x, $0.to.y], anchor: $0.anchor,
                classes: $0.classes?.sorted())
        }
        zones = (spec?.zones ?? []).map {
            Zone(
                name: $0.name, occupancy: 0, points: $0.points.map { [$0.x, $0.y] }, loiterSeconds: $0.loiterSeconds,
                anchor: $0.anchor, classes: $0.classes?.sorted())
        }
    }
}

/// Where a stream's analytics events go besides its events file and the node's event feed (a
/// node's sinks): told on the output's thread where they were counted, before the frame's line is
/// written, so that every event an events file holds was handed over first. It must not wait for
/// anything but a local disk. `frameTime` is when the events' frame was read (seconds since 1970).
public protocol AnalyticsRecorder: Sendable {
    func record(stream: String, events: [AnalyticsEvent], counts: AnalyticsCounts, frameTime: Double)
}

extension StreamHandle {
    /// Replaces its lines and zones (a tracked stream's): checked against its frame's size when it
    /// has one (else at its next frame, where a point outside is logged and the change dropped);
    /// its output takes them at its next frame. Counts and series begin again with them; event ids
    /// go on from where they were.
    public func replaceAnalytics(_ spec: AnalyticsSpec) throws(PipelineError) {
        guard interval != nil else { throw PipelineError(.invalidOptions, "stream '\(id)' is not tracked") }
        if let frame = latest?.frame, frame.width > 0, frame.height > 0 {
            do {
                try spec.validate(width: frame.width, height: frame.height)
            } catch {
                throw PipelineError(.invalidOptions, "\(error)")
            }
        }
        pendingAnalytics.withLock { $0 = spec }
        analyticsCounts.withLock { $0 = AnalyticsCounts(stream: id, spec: spec) }
        metrics.analytics.series.withLock { series in
            series.destroy()
            series = AnalyticsSeries(stream: id, spec: spec, factory: metricsFactory)
        }
        analyticsSpec.withLock { $0 = spec }
    }

    /// Lines and zones given since the output last looked (taken once).
    func takePendingAnalytics() -> AnalyticsSpec? {
        pendingAnalytics.withLock { p in
            defer { p = nil }; return p
        }
    }

    /// Its lines' crossings and zones' occupancy now.
    public var analytics: AnalyticsCounts { analyticsCounts.withLock { $0 } }

    /// The output counted `events` on a frame with lines and zones `spec`: the counts as they are
    /// after it, and the series moved. A frame counted on lines and zones replaced since (the output
    /// takes new ones at its next frame) moves nothing.
    func analysed(
        _ events: [AnalyticsEvent], crossings: [(inward: Int, outward: Int)], occupancy: [Int], spec: AnalyticsSpec,
        frameAge: Double
    ) {
        guard analyticsSpec.withLock({ $0 == spec }) else { return }
        analyticsCounts.withLock { c in
            for (i, n) in crossings.enumerated() where i < c.lines.count {
                c.lines[i].in = n.inward
                c.lines[i].out = n.outward
            }
            for (i, n) in occupancy.enumerated() where i < c.zones.count { c.zones[i].occupancy = n }
        }
        metrics.analytics.series.withLock { series in
            for e in events where e.type == .lineCrossed {
                guard let i = e.line.flatMap({ series.lineIndex[$0] }) else { continue }
                if e.direction == .inward {
                    series.crossings[i].inward.increment()
                } else {
                    series.crossings[i].outward.increment()
                }
            }
            for (i, n) in occupancy.enumerated() where i < series.occupancy.count { series.occupancy[i].record(n) }
        }
        if let recorder, !events.isEmpty {
            let frameTime = Date().timeIntervalSince1970 - max(0, frameAge)
            recorder.record(stream: id, events: events, counts: analytics, frameTime: frameTime)
        }
        if let tellAnalytics { events.forEach(tellAnalytics) }
    }
}
