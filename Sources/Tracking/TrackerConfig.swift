/// How a `Tracker` associates detections with tracks, when it starts, confirms and drops them, and
/// how much it trusts its motion model. All timing is in seconds of the frames' timestamps, never in
/// frames: a stream's frame rate and the detector's interval vary, and a track's life should not.
///
/// The defaults follow ByteTrack as Roboflow's `trackers` ships it (high detections from 0.6, birth
/// at 0.7, IoU 0.1 in both stages), with low detections from 0.1 and DeepSORT's confirmation of
/// three hits. On the tracking ground truth (`bench/tracking.sh`) they took IDF1 from 0.50 (with
/// the original paper's 0.5 / 0.6 / 0.2 / 0.5 and 1.5 s) to 0.57, level with that ByteTrack on the
/// same detections.
public struct TrackerConfig: Sendable, Equatable, Codable {
    // MARK: scores

    /// Detections scoring at least this are "high": they are matched first, against every track,
    /// and may start tracks. Default 0.6.
    public var highScore: Float
    /// Detections scoring at least this (and less than `highScore`) are "low": they only keep
    /// confirmed tracks going through a second stage (a partly occluded object scores low) and never
    /// start one. Lower scores are ignored. Default 0.1.
    public var lowScore: Float
    /// A high detection left unmatched starts a tentative track when it scores at least this. Above
    /// `highScore` so that a detection only just "high" does not start a track it could not keep.
    /// Default 0.7.
    public var newTrackScore: Float

    // MARK: association

    /// Smallest IoU between a track's predicted box and a high detection for them to match in the
    /// first stage. Low (0.1) because the prediction of a track unseen for a while, or of a fast
    /// object at a low detector rate, overlaps its next detection only partly, and the assignment,
    /// not the threshold, settles competition between tracks.
    public var firstStageIoU: Double
    /// Smallest IoU for a low detection to continue a confirmed track in the second stage. Default
    /// 0.1, as the first stage: the assignment picks the best overlap, and a detection a detector
    /// scores low on a person it tracked is usually that person, partly hidden.
    public var secondStageIoU: Double

    // MARK: lifecycle

    /// Matched detections (the first included) for a tentative track to be confirmed and given an id.
    /// Three: a one- or two-frame false positive never gets an id. Default 3; 1 confirms at birth.
    public var hitsToConfirm: Int
    /// Whether tracks born on the stream's first update are confirmed at once (ByteTrack does): the
    /// objects present when a stream starts get ids on its first frame.
    public var confirmOnFirstUpdate: Bool
    /// Seconds a track may go without a matched detection before it is removed (a confirmed track
    /// waits as lost meanwhile and can be found again with the same id). Default 3 s: a person
    /// behind a pillar or a car behind a truck comes back within it. Must exceed the longest interval
    /// between the frames the detector runs on, or tracks are dropped between them.
    public var retention: Double
    /// Most tracks held at once, in any state. A new candidate arriving when this many are held is
    /// not created (counted in `TrackerStats.refusedBirths`); existing tracks are never evicted for it.
    /// Default 256.
    public var maxTracks: Int

    // MARK: motion

    /// Standard deviation of a detected box's centre and size, as a fraction of its width (for x and
    /// width) or height (for y and height). Default 0.1: twice DeepSORT's 1/20, because SSD-class
    /// detectors' boxes jitter more than that from frame to frame; on the tracking ground truth
    /// (`bench/tracking.sh`) it and an acceleration of 0.3 raise IDF1 from 0.41 to 0.50.
    public var measurementNoise: Double
    /// Spectral density of the random acceleration the constant-velocity model allows, as a fraction
    /// of the box's width or height per s² per √Hz. Larger follows turns faster and smooths less.
    /// Default 0.3 (DeepSORT's velocity noise, 1/160 of the height a frame at 30 frames/s, is about
    /// 1 in seconds): people on a camera turn slowly, and a smoother velocity predicts the frames the
    /// detector skips better.
    public var accelerationNoise: Double
    /// Standard deviation of a new track's unknown velocity, as a fraction of its width or height per
    /// second. Default 1.
    public var initialVelocityNoise: Double

    /// Creates a configuration; every argument has the default documented on its property.
    public init(
        highScore: Float = 0.6, lowScore: Float = 0.1, newTrackScore: Float = 0.7,
        firstStageIoU: Double = 0.1, secondStageIoU: Double = 0.1,
        hitsToConfirm: Int = 3, confirmOnFirstUpdate: Bool = true, retention: Double = 3, maxTracks: Int = 256,
        measurementNoise: Double = 0.1, accelerationNoise: Double = 0.3, initialVelocityNoise: Double = 1
    ) {
        self.highScore = highScore
        self.lowScore = lowScore
        self.newTrackScore = newTrackScore
        self.firstStageIoU = firstStageIoU
        self.secondStageIoU = secondStageIoU
        self.hitsToConfirm = hitsToConfirm
        self.confirmOnFirstUpdate = confirmOnFirstUpdate
        self.retention = retention
        self.maxTracks = maxTracks
        self.measurementNoise = measurementNoise
        self.accelerationNoise = accelerationNoise
        self.initialVelocityNoise = initialVelocityNoise
    }

    /// The configuration a tracker runs with: values out of range are brought into it rather than
    /// refused (a tracker has no error path), so nothing a caller sets can make it divide by zero,
    /// hold unbounded tracks or never match. IoU thresholds go to 0.01...1, hits to 1...1000,
    /// retention to 0...3600 s, tracks to 1...65,536, noises to 1e-6...1e3; a non-finite value
    /// takes its default.
    public var clamped: TrackerConfig {
        let d = TrackerConfig()
        func fit(_ v: Double, _ lo: Double, _ hi: Double, _ def: Double) -> Double {
            v.isFinite ? min(max(v, lo), hi) : def
        }
        func fit(_ v: Float, _ def: Float) -> Float { v.isFinite ? min(max(v, 0), 1) : def }
        var c = self
        c.lowScore = fit(lowScore, d.lowScore)
        c.highScore = max(fit(highScore, d.highScore), c.lowScore)
        c.newTrackScore = fit(newTrackScore, d.newTrackScore)
        c.firstStageIoU = fit(firstStageIoU, 0.01, 1, d.firstStageIoU)
        c.secondStageIoU = fit(secondStageIoU, 0.01, 1, d.secondStageIoU)
        c.hitsToConfirm = min(max(hitsToConfirm, 1), 1000)
        c.retention = fit(retention, 0, 3600, d.retention)
        c.maxTracks = min(max(maxTracks, 1), 65_536)
        c.measurementNoise = fit(measurementNoise, 1e-6, 1e3, d.measurementNoise)
        c.accelerationNoise = fit(accelerationNoise, 1e-6, 1e3, d.accelerationNoise)
        c.initialVelocityNoise = fit(initialVelocityNoise, 1e-6, 1e3, d.initialVelocityNoise)
        return c
    }
}
