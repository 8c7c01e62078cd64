import Analytics
import Core
import CoreMetrics
import Foundation
import Monitoring
import Synchronization
import VideoIO
import Vision

/// How a stream is doing, as the control plane shows it.
public struct StreamInfo: Sendable, Encodable, Equatable {
    /// The stream's name (`[A-Za-z0-9_-]{1,64}`).
    public var id: String
    /// The file or URL it reads.
    public var source: String
    /// The model it runs on, as given.
    public var model: String
    /// Where it is in its life.
    public var state: StreamPhase
    /// Frames written (processed), since it was added.
    public var frames: Int
    /// Frames out per second, over its last few seconds (0 when nothing came out for 2 s).
    public var fps: Double
    /// Lag from decode to output over its recent frames, milliseconds.
    public var lagMs: Lag
    /// The same over the last 10 s only (what changed lately: a rollout's canary is judged by it).
    public var lagRecentMs = Lag(p50: 0, p99: 0)
    /// Frames shed (written as gaps).
    public var dropped: Int
    /// Times a live source came back after dropping.
    public var reconnects: Int
    /// The last error, kept after recovery.
    public var lastError: String?
    /// Whether a file replays from its start at its end.
    public var loop: Bool
    /// Whether a file is paced at its native rate.
    public var realtime: Bool
    /// Why its events file cannot be written now (a full disk), while that lasts; null otherwise.
    public var eventsError: String? = nil
    /// Event lines lost (the disk refused for longer than the held lines could wait), since it was added.
    public var eventsLost = 0
    /// Whether its objects are tracked (`track`).
    public var track = false
    /// With `track`: the detector runs on every `inferEvery`-th frame now; nil when not tracked.
    public var inferEvery: Int? = nil
    /// With `track`: whether the batch size manager chooses the interval (`infer_every: auto`).
    public var inferAuto: Bool? = nil
    /// With `track`: whether frames of a still scene are left to the tracker (`motion`).
    public var motion: Bool? = nil
    /// Of the frames written, those its tracker answered without the detector.
    public var tracked = 0
    /// With `track`: those frames by why the detector skipped them (`interval`, `motion`).
    public var skipped: [String: Int]? = nil
    /// Its events' clips (`record`), nil when it keeps none.
    public var record: ClipSettings? = nil

    /// p50 and p99 in milliseconds.
    public struct Lag: Sendable, Codable, Equatable {
        public var p50: Double
        public var p99: Double
    }

    enum CodingKeys: String, CodingKey {
        case id, source, model, state, frames, fps, dropped, reconnects, loop, realtime
        case lagMs = "lag_ms"
        case lagRecentMs = "lag_10s_ms"
        case lastError = "last_error"
        case eventsError = "events_error"
        case eventsLost = "events_lost"
        case track, tracked, motion, skipped, record
        case inferEvery = "infer_every"
        case inferAuto = "infer_auto"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(source, forKey: .source)
        try c.encode(model, forKey: .model)
        try c.encode(state, forKey: .state)
        try c.encode(frames, forKey: .frames)
        try c.encode((fps * 100).rounded() / 100, forKey: .fps)
        try c.encode(lagMs, forKey: .lagMs)
        try c.encode(lagRecentMs, forKey: .lagRecentMs)
        try c.encode(dropped, forKey: .dropped)
        try c.encode(reconnects, forKey: .reconnects)
        // Always present, null when there was none: clients need not guess the key.
        try c.encode(lastError, forKey: .lastError)
        try c.encode(loop, forKey: .loop)
        try c.encode(realtime, forKey: .realtime)
        try c.encode(eventsError, forKey: .eventsError)
        try c.encode(eventsLost, forKey: .eventsLost)
        try c.encode(track, forKey: .track)
        try c.encode(inferEvery, forKey: .inferEvery)
        try c.encode(inferAuto, forKey: .inferAuto)
        try c.encode(motion, forKey: .motion)
        try c.encode(tracked, forKey: .tracked)
        try c.encode(skipped, forKey: .skipped)
        try c.encode(record, forKey: .record)
    }
}

/// A stream attached to a running pipeline: what it reads, how it is doing, and how to stop it.
///
/// Written by the stream's decoding thread (its phase, reconnects, errors) and by the output thread
/// (frames, lag, drops); read by anyone. Bounded: it keeps the last 512 lags and 128 output times.
/// Its metrics (swift-metrics, by `stream`) are counted here as things happen, and destroyed with
/// `destroyMetrics` when the stream is removed.
public final class StreamHandle: Sendable {
    /// The stream's name.
    public let id: String
    /// Its number inside the pipeline (the `stream` of `run`'s events).
    public let number: Int
    /// The file or URL, its credentials hidden (`SourcePolicy.redacted`).
    public let source: String
    /// The model, as given.
    public let model: String
    /// Replays a file at its end.
    public let loop: Bool
    /// Paces a file at its native rate.
    public let realtime: Bool
    /// How it is tracked; nil: not tracked.
    public var tracking: TrackingSettings? { interval?.settings }
    /// Its inference interval as it runs, when it is tracked.
    let interval: StreamInterval?

    private struct Live: Sendable {
        var phase = StreamPhase.connecting
        var reconnects = 0
        var lastError: String?
        var frames = 0
        var dropped = 0
        var lags = Ring<Double>(capacity: 512)
        /// When each of `lags` was taken (same order).
        var lagTimes = Ring<Double>(capacity: 512)
        var outputs = Ring<Double>(capacity: 128)
        var complete = false
        var eventsError: String?
        var eventsLost = 0
        var tracked = 0
        var skipped: [String: Int] = [:]
    }

    private let live = Mutex(Live())
    /// Told each change of state, after it happened (the node's event feed).
    private let tell: (@Sendable (StreamChange) -> Void)?
    /// Told each event of its lines and zones, as its output counted it (the node's event feed).
    let tellAnalytics: (@Sendable (AnalyticsEvent) -> Void)?
    /// Handed each frame's events and the counts after it (the node's sinks), before its line is written.
    let recorder: (any AnalyticsRecorder)?
    /// Keeps a snapshot of each of its events (a service's), if anything does.
    let snapshots: EventSnapshots?
    /// Keeps a clip of each of its events (`record:`), if it asked for them.
    let clips: ClipRecorder?
    /// Raised by `stop` (or with the pipeline's own stop): the stream's reads and waits end.
    public let stopSignal: StopSignal
    /// Set when every frame it read is out and its events are closed.
    private let completion = Completion<Bool>()
    let metrics: StreamMetrics
    /// Its lines' crossings and zones' occupancy, as its output last counted them.
    let analyticsCounts: Mutex<AnalyticsCounts>
    /// Lines and zones replaced and not yet taken by the output.
    let pendingAnalytics = Mutex<AnalyticsSpec?>(nil)
    /// Its lines and zones now.
    let analyticsSpec: Mutex<AnalyticsSpec?>
    /// Makes its series (those of lines and zones given later too).
    let metricsFactory: any MetricsFactory
    /// The latest frame written and what was found in it (one frame held per stream), for a snapshot.
    private let latestFrame = Mutex<(frame: VideoFrame, detections: [Detection])?>(nil)

    /// The latest frame written, with its detections (nil before the first).
    public var latest: (frame: VideoFrame, detections: [Detection])? { latestFrame.withLock { $0 } }

    func wrote(_ frame: VideoFrame, _ detections: [Detection]) { latestFrame.withLock { $0 = (frame, detections) } }

    /// A handle for a stream about to be attached.
    /// `stop` is the signal its reads and waits end on (a child of the pipeline's, so that stopping
    /// the pipeline stops it too); its series are made through `metrics`.
    public init(
        id: String, number: Int, source: String, model: String, loop: Bool = false, realtime: Bool = false,
        stop: StopSignal = StopSignal(), metrics: any MetricsFactory = MetricsSystem.factory,
        tell: (@Sendable (StreamChange) -> Void)? = nil, tracking: TrackingSettings? = nil,
        tellAnalytics: (@Sendable (AnalyticsEvent) -> Void)? = nil, recorder: (any AnalyticsRecorder)? = nil,
        media: EventMedia = EventMedia(), record: ClipSettings? = nil
    ) {
        snapshots = media.snapshots
        if let record, let store = media.clips {
            clips = ClipRecorder(settings: record, store: store)
        } else {
            clips = nil
        }
        self.tell = tell
        self.tellAnalytics = tellAnalytics
        self.recorder = recorder
        stopSignal = stop
        metricsFactory = metrics
        let metrics = StreamMetrics(stream: id, factory: metrics, analytics: tracking?.analytics)
        self.metrics = metrics
        analyticsCounts = Mutex(AnalyticsCounts(stream: id, spec: tracking?.analytics))
        analyticsSpec = Mutex(tracking?.analytics)
        interval = tracking.map {
            StreamInterval(id: id, stream: number, settings: $0, observe: { metrics.interval.record($0) })
        }
        self.id = id
        self.number = number
        self.source = SourcePolicy.redacted(source)
        self.model = model
        self.loop = loop
        self.realtime = realtime
    }

    /// Asks the stream to stop reading; frames already read still go through.
    public func stop() { stopSignal.raise() }

    /// The stream was removed: its series go (nothing grows with uptime as cameras come and go).
    public func destroyMetrics() { metrics.destroy() }

    /// Whether `stop` was called (or the pipeline stopped).
    public var stopRequested: Bool { stopSignal.isRaised }

    /// Whether every frame it read has been written and its events file closed.
    public var isComplete: Bool { live.withLock { $0.complete } }

    /// Waits until the stream is complete (resumed by the output stage when it is) or `timeout`
    /// passes; true when complete.
    public func waitUntilComplete(timeout: Duration) async -> Bool {
        await completion.wait(timeout: timeout) ?? false
    }

    /// The stream as the control plane shows it.
    public var info: StreamInfo {
        let now = Clock.now
        return live.withLock { s in
            let lags = s.lags.elements.sorted()
            let recent = zip(s.lagTimes.elements, s.lags.elements).filter { now - $0.0 <= 10 }.map(\.1).sorted()
            let times = s.outputs.elements
            var fps = 0.0
            if times.count >= 2, let last = times.last, let first = times.first, now - last < 2, last > first {
                fps = Double(times.count - 1) / (last - first)
            }
            return StreamInfo(
                id: id, source: source, model: model, state: s.phase, frames: s.frames, fps: fps,
                lagMs: .init(p50: Self.percentile(lags, 0.5) * 1000, p99: Self.percentile(lags, 0.99) * 1000),
                lagRecentMs: .init(p50: Self.percentile(recent, 0.5) * 1000, p99: Self.percentile(recent, 0.99) * 1000),
                dropped: s.dropped, reconnects: s.reconnects, lastError: s.lastError, loop: loop, realtime: realtime,
                eventsError: s.eventsError, eventsLost: s.eventsLost, track: interval != nil,
                inferEvery: interval?.interval, inferAuto: interval?.auto, motion: interval?.settings.motion,
                tracked: s.tracked, skipped: interval == nil ? nil : s.skipped, record: clips?.settings)
        }
    }

    // MARK: Written by the pipeline

    /// The source's state machine moved.
    func update(phase: StreamPhase, reconnects: Int, lastError: String?) {
        let (came, told) = live.withLock { s -> (Int, StreamChange?) in
            // A stream failed by its output stays failed, whatever its source does.
            guard s.phase != .failed || phase == .failed else { return (0, nil) }
            let came = max(0, reconnects - s.reconnects)
            s.reconnects = reconnects
            s.lastError = lastError
            metrics.up.record(phase == .running ? 1 : 0)
            return (came, move(&s, to: phase).map { change(s, from: $0) })
        }
        if came > 0 { metrics.reconnects.increment(by: came) }
        if let told { tell?(told) }
    }

    /// Moves `s` to `phase`; the phase it left when that is a change.
    private func move(_ s: inout Live, to phase: StreamPhase) -> StreamPhase? {
        let before = s.phase
        s.phase = phase
        return before == phase ? nil : before
    }

    /// The change of a stream now as `s`, from `from` (nil: it just came).
    private func change(_ s: Live, from: StreamPhase?) -> StreamChange {
        StreamChange(
            stream: id, from: from?.rawValue, to: s.phase.rawValue, lastError: s.lastError, reconnects: s.reconnects)
    }

    /// Tells that the stream is there, in its first state (a stream just attached).
    func announce() {
        let now = live.withLock { change($0, from: nil) }
        tell?(now)
    }

    /// A frame of this stream was written, `lag` seconds after it was decoded.
    func wrote(lag: Double, at time: Double) {
        live.withLock { s in
            s.frames += 1
            s.lags.append(lag)
            s.lagTimes.append(time)
            s.outputs.append(time)
        }
        metrics.frames.increment()
        metrics.lag.recordSeconds(lag)
    }

    /// The stream failed for good (its events file cannot be written, the pipeline stopped).
    func failed(_ reason: String) {
        let told = live.withLock { s in
            s.lastError = reason
            metrics.up.record(0)
            return move(&s, to: .failed).map { change(s, from: $0) }
        }
        if let told { tell?(told) }
    }

    /// Its events file fails (`error`), or writes again (nil); `lost` lines were lost in all.
    func events(error: String?, lost: Int) {
        let came = live.withLock { s in
            defer {
                s.eventsError = error
                s.eventsLost = lost
            }
            return lost - s.eventsLost
        }
        if came > 0 { metrics.eventsLost.increment(by: came) }
        metrics.eventsFailing.record(error == nil ? 0 : 1)
    }

    /// Why its events file cannot be written now, if it cannot.
    public var eventsError: String? { live.withLock { $0.eventsError } }

    /// A frame of this stream was answered by its tracker (the detector skipped it); counted as
    /// written too (`wrote(lag:at:)`).
    func answeredByTracker(_ reason: SkipReason) {
        live.withLock {
            $0.tracked += 1
            $0.skipped[reason.rawValue, default: 0] += 1
        }
        switch reason {
        case .interval: metrics.skipped.increment()
        case .motion: metrics.skippedMotion.increment()
        }
    }

    /// `count` frames of this stream were shed.
    func shed(_ count: Int = 1) {
        live.withLock { $0.dropped += count }
        metrics.dropped.increment(by: count)
    }

    /// Every frame it read is out and its events are closed.
    func completed() {
        let told = live.withLock { s -> StreamChange? in
            s.complete = true
            metrics.up.record(0)
            guard s.phase != .failed else { return nil }
            return move(&s, to: .ended).map { change(s, from: $0) }
        }
        if let told { tell?(told) }
        completion.complete(true)
    }

    private static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))
        return (sorted[rank] * 1_000_000).rounded() / 1_000_000
    }
}
