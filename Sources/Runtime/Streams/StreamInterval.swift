import Batching
import Synchronization

/// A tracked stream's inference interval while it runs: read by its decoding thread for each
/// frame, set by the batch size manager when the stream lets it choose (`infer_every: auto`), with
/// the figures it chooses by: frames decoded, how steady the stream's tracks are, whether its
/// scene is still. Shared by the stream's decoding thread (which reads the interval and counts
/// frames), the output thread (which reports steadiness) and the manager (which sets it).
final class StreamInterval: Sendable {
    /// The stream's name in the manager's decisions.
    let id: String
    /// The stream's number: staggers the detector's frames across streams.
    let stream: Int
    /// How the stream is tracked.
    let settings: TrackingSettings
    private let current: Atomic<Int>
    private let decoded = Atomic<Int>(0)
    /// The latest decoded frame's pts (bits of a `Double`): the stream's own clock for its rate.
    private let pts = Atomic<UInt64>(Double.nan.bitPattern)
    /// Steadiness in thousandths (written by the output thread alone).
    private let steady = Atomic<Int>(1000)
    private let still = Atomic<Bool>(false)
    /// Told each new interval (the stream's gauge).
    private let observe: (@Sendable (Int) -> Void)?

    /// The interval of stream `id` (number `stream`), starting at `settings.inferEvery`.
    init(id: String, stream: Int, settings: TrackingSettings, observe: (@Sendable (Int) -> Void)? = nil) {
        self.id = id
        self.stream = stream
        self.settings = settings
        self.observe = observe
        current = Atomic(max(1, settings.inferEvery))
        observe?(max(1, settings.inferEvery))
    }

    /// Whether the manager chooses the interval.
    var auto: Bool { settings.auto }

    /// The detector runs on every `interval`-th frame now.
    var interval: Int { current.load(ordering: .relaxed) }

    /// Sets the interval (the manager's decision).
    func set(_ n: Int) {
        let n = min(TrackingSettings.maxInterval, max(1, n))
        current.store(n, ordering: .relaxed)
        observe?(n)
    }

    /// Whether the detector runs on frame `index` at the interval in force now, decided once per
    /// frame, before it is read (a frame the detector skips is read without its picture).
    func infers(frame index: Int) -> Bool {
        IntervalController.infers(frame: index, stream: stream, every: interval)
    }

    /// The stream's first frame was read; it runs at `fps` frames per second by its container (nil:
    /// unknown, taken as 25). An interval the manager chooses starts at its longest: a camera that
    /// joins a busy node costs the others nothing, and the manager shortens it as far as the room
    /// it measures allows (its first frame has gone to the detector already).
    func started(fps: Double?) {
        guard auto else { return }
        set(IntervalController.maxInterval(fps: fps ?? 25))
    }

    /// A frame was decoded, at `pts` seconds: counted for the stream's rate.
    func decoded(pts: Double) {
        self.pts.store(pts.bitPattern, ordering: .relaxed)
        decoded.add(1, ordering: .relaxed)
    }

    /// Frames decoded so far.
    var decodedFrames: Int { decoded.load(ordering: .relaxed) }

    /// The latest decoded frame's pts (NaN before the first).
    var latestPts: Double { Double(bitPattern: pts.load(ordering: .relaxed)) }

    /// How steady the stream's tracks are, 0...1; 1 while its scene is still.
    var stability: Double {
        still.load(ordering: .relaxed) ? 1 : Double(steady.load(ordering: .relaxed)) / 1000
    }

    /// The output thread's latest figure for the tracks' steadiness.
    func noteSteadiness(_ value: Double) {
        steady.store(Int((min(1, max(0, value)) * 1000).rounded()), ordering: .relaxed)
    }

    /// The decoding thread's motion gate found the scene still (or not).
    func noteStill(_ isStill: Bool) { still.store(isStill, ordering: .relaxed) }
}
