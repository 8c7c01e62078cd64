import Vision

/// Where a track is in its life.
public enum TrackState: String, Sendable, Equatable, Codable {
    /// Born from an unmatched high detection and not yet matched `hitsToConfirm` times: it has no id
    /// yet, is never reported, and is removed the first update it goes unmatched.
    case tentative
    /// Confirmed and matched on the latest update: reported by `update` when matched and by
    /// `predict`.
    case confirmed
    /// Confirmed but unmatched on an update since: not reported; still predicted along its velocity
    /// and matched against high detections, so an object seen again within the retention keeps its id.
    case lost
}

/// One tracked object on a frame: the track's id and the detection it stands for.
public struct TrackedObject: Sendable, Equatable, Codable {
    /// The track's id: unique within its tracker, from 1, never reused.
    public var track: UInt64
    /// On an update, the detection matched, as given (its box, not the filtered one). On a
    /// prediction, the track's last detection (label, class, score) with the predicted box.
    public var detection: Detection
    /// Detections matched to the track so far.
    public var hits: Int
    /// Time of the track's first detection, in the stream's seconds.
    public var firstSeen: Double

    /// Creates a tracked object.
    public init(track: UInt64, detection: Detection, hits: Int, firstSeen: Double) {
        self.track = track
        self.detection = detection
        self.hits = hits
        self.firstSeen = firstSeen
    }
}

/// What a tracker refused or repaired since it was created: its inputs are untrusted, and what it
/// could not use is counted rather than thrown.
public struct TrackerStats: Sendable, Equatable, Codable {
    /// Ids given so far (tracks confirmed).
    public var confirmed: UInt64 = 0
    /// Detections ignored for their box (not four finite numbers within ±1e7 with a positive width
    /// and height) or score (not a number).
    public var invalidDetections: UInt64 = 0
    /// Tracks not started because `maxTracks` were held.
    public var refusedBirths: UInt64 = 0
    /// Frames whose time was earlier than one already seen, taken as that latest time.
    public var clampedTimes: UInt64 = 0
    /// Frames ignored because their time was not finite.
    public var ignoredFrames: UInt64 = 0

    /// No counts.
    public init() {}
}

/// One track: its filter, its last detection and its bookkeeping.
struct Track: Sendable {
    /// The id, given when it is confirmed; nil while tentative.
    var id: UInt64?
    /// Where it is in its life.
    var state: TrackState
    /// Its motion, at the tracker's latest time.
    var filter: BoxFilter
    /// The class every detection it matches has.
    var classId: Int
    /// The last detection matched, as given.
    var detection: Detection
    /// Detections matched.
    var hits: Int
    /// Time of the first detection.
    var firstSeen: Double
    /// Time of the last detection.
    var lastSeen: Double
    /// The tracker's update count when it was last matched (or born).
    var lastUpdate: UInt64

    /// What it reports with `detection` as the detection.
    func object(_ detection: Detection) -> TrackedObject {
        TrackedObject(track: id ?? 0, detection: detection, hits: hits, firstSeen: firstSeen)
    }
}
