import Analytics
import CoreMetrics
import Synchronization

/// A stream's series (by `stream`), made once with its handle and counted where things happen: frames
/// written and shed by the output stage, reconnects and `up` as its source's state moves, and each
/// frame's lag. `destroy` drops them when the stream is removed, so that nothing grows with uptime
/// as cameras come and go.
struct StreamMetrics: Sendable {
    /// Frames written (`batchline_frames_total`).
    let frames: Counter
    /// Frames shed, written as gaps (`batchline_frames_dropped_total`).
    let dropped: Counter
    /// Times a live source came back (`batchline_stream_reconnects_total`).
    let reconnects: Counter
    /// 1 while frames come, 0 otherwise (`batchline_stream_up`).
    let up: Gauge
    /// Event lines lost to a disk that refused (`batchline_events_lost_total`).
    let eventsLost: Counter
    /// 1 while its events file cannot be written (`batchline_events_write_failing`).
    let eventsFailing: Gauge
    /// Seconds from a frame's decoding to its event (`batchline_stream_lag_seconds`).
    let lag: CoreMetrics.Timer
    /// Frames the detector skipped, answered by the stream's tracker
    /// (`batchline_frames_skipped_total{reason="interval"}`).
    let skipped: Counter
    /// Frames the detector skipped because the scene was still, answered by the tracker
    /// (`batchline_frames_skipped_total{reason="motion"}`).
    let skippedMotion: Counter
    /// The detector runs on every N-th frame of the stream (`batchline_stream_infer_interval`; 1 for
    /// a stream not tracked).
    let interval: Gauge
    /// Its lines' and zones' series, replaced with them (`PUT /api/v1/streams/{id}/analytics`).
    let analytics: AnalyticsSeriesBox

    /// The series of stream `id`, made through `factory` (with those of its lines and zones).
    init(stream id: String, factory: any MetricsFactory, analytics: AnalyticsSpec? = nil) {
        let dimensions = [("stream", id)]
        frames = Counter(label: "batchline_frames_total", dimensions: dimensions, factory: factory)
        dropped = Counter(label: "batchline_frames_dropped_total", dimensions: dimensions, factory: factory)
        reconnects = Counter(label: "batchline_stream_reconnects_total", dimensions: dimensions, factory: factory)
        up = Gauge(label: "batchline_stream_up", dimensions: dimensions, factory: factory)
        lag = CoreMetrics.Timer(label: "batchline_stream_lag_seconds", dimensions: dimensions, factory: factory)
        eventsLost = Counter(label: "batchline_events_lost_total", dimensions: dimensions, factory: factory)
        eventsFailing = Gauge(label: "batchline_events_write_failing", dimensions: dimensions, factory: factory)
        skipped = Counter(
            label: "batchline_frames_skipped_total", dimensions: dimensions + [("reason", "interval")], factory: factory
        )
        skippedMotion = Counter(
            label: "batchline_frames_skipped_total", dimensions: dimensions + [("reason", "motion")], factory: factory)
        interval = Gauge(label: "batchline_stream_infer_interval", dimensions: dimensions, factory: factory)
        self.analytics = AnalyticsSeriesBox(AnalyticsSeries(stream: id, spec: analytics, factory: factory))
        up.record(0)
        interval.record(1)
        eventsFailing.record(0)
    }

    /// The stream is gone: its series go too.
    func destroy() {
        frames.destroy()
        dropped.destroy()
        reconnects.destroy()
        up.destroy()
        lag.destroy()
        eventsLost.destroy()
        eventsFailing.destroy()
        skipped.destroy()
        skippedMotion.destroy()
        interval.destroy()
        analytics.series.withLock { $0.destroy() }
    }
}

/// A stream's series of its lines and zones: per line, crossings in and out
/// (`batchline_line_crossings_total{stream,line,direction}`); per zone, the tracks inside
/// (`batchline_zone_occupancy{stream,zone}`).
struct AnalyticsSeries {
    let crossings: [(inward: Counter, outward: Counter)]
    let occupancy: [Gauge]
    /// Each line's place in `crossings`, by name (made once, not per frame).
    let lineIndex: [String: Int]

    init(stream id: String, spec: AnalyticsSpec?, factory: any MetricsFactory) {
        let dimensions = [("stream", id)]
        crossings = (spec?.lines ?? []).map { line in
            let named = dimensions + [("line", line.name)]
            return (
                Counter(
                    label: "batchline_line_crossings_total", dimensions: named + [("direction", "in")], factory: factory
                ),
                Counter(
                    label: "batchline_line_crossings_total", dimensions: named + [("direction", "out")],
                    factory: factory)
            )
        }
        occupancy = (spec?.zones ?? []).map {
            Gauge(label: "batchline_zone_occupancy", dimensions: dimensions + [("zone", $0.name)], factory: factory)
        }
        occupancy.forEach { $0.record(0) }
        lineIndex = Dictionary(
            (spec?.lines ?? []).enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func destroy() {
        for c in crossings {
            c.inward.destroy()
            c.outward.destroy()
        }
        occupancy.forEach { $0.destroy() }
    }
}

/// Holds a stream's `AnalyticsSeries`, so that they can be replaced with its lines and zones.
final class AnalyticsSeriesBox: Sendable {
    let series: Mutex<AnalyticsSeries>
    init(_ series: AnalyticsSeries) { self.series = Mutex(series) }
}
