import Vision

/// A multi-object tracker for one stream, in the manner of ByteTrack: a constant-velocity Kalman
/// filter predicts each track's box, and detections are matched to the predictions by IoU in two
/// stages, high-scoring detections first against every track, then low-scoring ones against the
/// confirmed tracks still unmatched, so that an object whose score drops (partly occluded, blurred)
/// keeps its track without low scores ever starting one. A pure value: no I/O, no clock, no locks;
/// time is what the caller says, in seconds.
///
/// Feed it every frame of the stream in order: `update` for a frame the detector ran on, `predict`
/// for one it skipped. Ids are given when a track is confirmed, from 1, and never reused, so the ids
/// a stream shows are dense and each stands for one object.
///
/// Bounded: at most `maxTracks` tracks are held, a track unseen for longer than `retention` seconds
/// is dropped with all it held, and the buffers a frame needs are reused. Untrusted input does not
/// crash it: a detection whose box is not four finite numbers with a positive width and height (or
/// whose score is not a number) is ignored; a frame time that is not finite is ignored (the frame
/// changes nothing and reports nothing); a time earlier than one already seen is taken as the latest
/// (the motion model never runs backwards). Each is counted in `stats`.
public struct Tracker: Sendable {
    /// The configuration, as clamped to its ranges.
    public let config: TrackerConfig
    /// What was refused or repaired so far.
    public private(set) var stats = TrackerStats()

    /// The tracks, in order of birth.
    private(set) var tracks: [Track] = []
    /// The next id to give.
    private var nextId: UInt64 = 1
    /// The latest frame time seen: every filter is at it. Nil before the first frame.
    private var now: Double?
    /// Updates run.
    private var updates: UInt64 = 0
    /// The filter's noises.
    private let noise: MotionNoise
    /// The assignment solver and its candidate pairs, kept for their buffers.
    private var solver = LinearAssignment()
    private var pairs: [Pair] = []
    /// Per-frame buffers kept for their capacity.
    private var scratch = Scratch()

    /// Buffers one update uses, emptied at its start.
    private struct Scratch: Sendable {
        /// Each detection's box (a placeholder for an invalid one).
        var boxes: [Box] = []
        /// Each detection's class.
        var classOf: [Int] = []
        /// Indices of the high and low detections.
        var high: [Int] = []
        var low: [Int] = []
        /// Each detection's track index, or -1.
        var trackOf: [Int] = []
        /// Each track's detection index, or -1.
        var detectionOf: [Int] = []
        /// Track indices a stage matches from.
        var rows: [Int] = []
    }

    /// A tracker with no tracks.
    public init(config: TrackerConfig = TrackerConfig()) {
        let c = config.clamped
        self.config = c
        noise = MotionNoise(
            measurement: c.measurementNoise, acceleration: c.accelerationNoise,
            initialVelocity: c.initialVelocityNoise)
    }

    /// Tracks held, in any state (tentative, confirmed, lost); never more than `config.maxTracks`.
    public var trackCount: Int { tracks.count }

    /// Each held track's state, in order of birth: what a dashboard or a test may look at.
    public var states: [TrackState] { tracks.map(\.state) }

    /// A frame the detector ran on, at `time` seconds: matches `detections` with the tracks and
    /// returns the confirmed tracks matched on it, in the order of `detections`, each with its
    /// detection as given. A detection not returned started a tentative track, was refused, or
    /// matched nothing.
    public mutating func update(detections: [Detection], at time: Double) -> [TrackedObject] {
        guard let now = advance(to: time) else { return [] }
        updates &+= 1
        let firstUpdate = updates == 1
        sortDetections(detections)
        scratch.detectionOf.removeAll(keepingCapacity: true)
        scratch.detectionOf.append(contentsOf: repeatElement(-1, count: tracks.count))

        // Stage 1: high detections against every track; stage 2: low ones against the confirmed
        // tracks stage 1 left.
        scratch.rows.removeAll(keepingCapacity: true)
        scratch.rows.append(contentsOf: tracks.indices)
        associate(scratch.rows, scratch.high, minIoU: config.firstStageIoU)
        scratch.rows.removeAll(keepingCapacity: true)
        for t in tracks.indices where scratch.detectionOf[t] < 0 && tracks[t].state == .confirmed {
            scratch.rows.append(t)
        }
        associate(scratch.rows, scratch.low, minIoU: config.secondStageIoU)

        for t in tracks.indices {
            let d = scratch.detectionOf[t]
            if d >= 0 {
                correct(t, with: detections[d], box: scratch.boxes[d], at: now)
            } else if tracks[t].state == .confirmed {
                tracks[t].state = .lost
                tracks[t].filter.freezeSize()
            }
        }
        removeUnmatchedTentative()

        for d in scratch.high where scratch.trackOf[d] < 0 && detections[d].score >= config.newTrackScore {
            guard tracks.count < config.maxTracks else {
                stats.refusedBirths += 1
                continue
            }
            scratch.trackOf[d] = tracks.count
            tracks.append(
                Track(
                    id: nil, state: .tentative, filter: BoxFilter(box: scratch.boxes[d], noise: noise),
                    classId: detections[d].classId, detection: detections[d], hits: 1, firstSeen: now,
                    lastSeen: now, lastUpdate: updates))
            if config.hitsToConfirm <= 1 || (firstUpdate && config.confirmOnFirstUpdate) {
                confirm(tracks.count - 1)
            }
        }

        var out: [TrackedObject] = []
        for (d, t) in scratch.trackOf.enumerated() where t >= 0 && tracks[t].state == .confirmed {
            out.append(tracks[t].object(detections[d]))
        }
        return out
    }

    /// A frame the detector skipped, at `time` seconds: moves every track's motion to it and returns
    /// the confirmed tracks being followed (not lost), by id, each with its predicted box and its last
    /// detection's label, class and score. Matches nothing and changes no track's state; tracks
    /// unseen for longer than the retention are dropped, as at any frame.
    public mutating func predict(at time: Double) -> [TrackedObject] {
        guard advance(to: time) != nil else { return [] }
        var out: [TrackedObject] = []
        for track in tracks where track.state == .confirmed {
            var d = track.detection
            d.box = track.filter.box.array
            out.append(track.object(d))
        }
        out.sort { $0.track < $1.track }
        return out
    }

    // MARK: steps

    /// Takes the frame time (nil to ignore the frame), drops the tracks unseen for longer than the
    /// retention, and predicts the others to it.
    private mutating func advance(to time: Double) -> Double? {
        guard time.isFinite else {
            stats.ignoredFrames += 1
            return nil
        }
        guard let before = now else {
            now = time
            return time
        }
        guard time >= before else {
            stats.clampedTimes += 1
            return before
        }
        now = time
        let retention = config.retention
        tracks.removeAll { time - $0.lastSeen > retention }
        let dt = time - before
        for t in tracks.indices { tracks[t].filter.predict(dt: dt, noise: noise) }
        return time
    }

    /// Fills the boxes and the high and low lists for `detections`; counts the invalid ones.
    private mutating func sortDetections(_ detections: [Detection]) {
        scratch.boxes.removeAll(keepingCapacity: true)
        scratch.classOf.removeAll(keepingCapacity: true)
        scratch.high.removeAll(keepingCapacity: true)
        scratch.low.removeAll(keepingCapacity: true)
        scratch.trackOf.removeAll(keepingCapacity: true)
        scratch.trackOf.append(contentsOf: repeatElement(-1, count: detections.count))
        for (i, d) in detections.enumerated() {
            scratch.classOf.append(d.classId)
            guard let box = Box(d.box), !d.score.isNaN else {
                stats.invalidDetections += 1
                scratch.boxes.append(Box(centre: .zero))
                continue
            }
            scratch.boxes.append(box)
            if d.score >= config.highScore {
                scratch.high.append(i)
            } else if d.score >= config.lowScore {
                scratch.low.append(i)
            }
        }
    }

    /// Matches the tracks at indices `rows` with the detections at indices `columns`, same class
    /// only, IoU at least `minIoU`, the total IoU above it the largest; records the pairs.
    private mutating func associate(_ rows: [Int], _ columns: [Int], minIoU: Double) {
        guard !rows.isEmpty, !columns.isEmpty else { return }
        var list = pairs  // a local while it grows: no uniqueness check of a stored array per append
        pairs = []
        list.removeAll(keepingCapacity: true)
        let (boxes, classes) = (scratch.boxes, scratch.classOf)
        for (r, t) in rows.enumerated() {
            let box = tracks[t].filter.box
            let classId = tracks[t].classId
            for (c, d) in columns.enumerated() where classes[d] == classId {
                let iou = box.iou(boxes[d])
                // A hair above zero at the threshold itself, so that IoU == minIoU still matches.
                if iou >= minIoU { list.append(Pair(row: r, column: c, gain: iou - minIoU + 1e-9)) }
            }
        }
        pairs = list
        guard !pairs.isEmpty else { return }
        solver.solve(rows: rows.count, columns: columns.count, pairs: pairs)
        for (r, t) in rows.enumerated() where solver.match[r] >= 0 {
            let d = columns[solver.match[r]]
            scratch.detectionOf[t] = d
            scratch.trackOf[d] = t
        }
    }

    /// Track `t` matched `detection` at `now`: corrects its filter, counts the hit, confirms it when
    /// it has enough, finds it again when lost.
    private mutating func correct(_ t: Int, with detection: Detection, box: Box, at now: Double) {
        tracks[t].filter.update(box: box, noise: noise)
        tracks[t].detection = detection
        tracks[t].hits += 1
        tracks[t].lastSeen = now
        tracks[t].lastUpdate = updates
        switch tracks[t].state {
        case .tentative where tracks[t].hits >= config.hitsToConfirm: confirm(t)
        case .lost: tracks[t].state = .confirmed
        case .tentative, .confirmed: break
        }
    }

    /// Confirms track `t`, giving it the next id.
    private mutating func confirm(_ t: Int) {
        tracks[t].id = nextId
        tracks[t].state = .confirmed
        nextId += 1
        stats.confirmed += 1
    }

    /// Removes the tentative tracks this update did not match, keeping the others in order and the
    /// detections' track indices pointing at them.
    private mutating func removeUnmatchedTentative() {
        var kept = 0
        for t in tracks.indices {
            if tracks[t].state == .tentative && tracks[t].lastUpdate != updates {
                continue
            }
            if kept != t {
                tracks[kept] = tracks[t]
                let d = scratch.detectionOf[t]
                if d >= 0 { scratch.trackOf[d] = kept }
            }
            kept += 1
        }
        tracks.removeLast(tracks.count - kept)
    }
}
