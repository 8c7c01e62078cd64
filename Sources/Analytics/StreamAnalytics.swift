/// A tracked object on one frame, as analytics sees it: its track id, class label and box
/// `[x1, y1, x2, y2]` in pixels of the source frame.
public struct Observation: Sendable, Equatable {
    public var track: UInt64
    public var label: String
    public var box: [Double]

    public init(track: UInt64, label: String, box: [Double]) {
        self.track = track
        self.label = label
        self.box = box
    }
}

/// What happened.
public enum AnalyticsEventType: String, Sendable, Equatable, Codable {
    case lineCrossed = "line_crossed"
    case zoneEntered = "zone_entered"
    case zoneLeft = "zone_left"
    case loitering
}

/// Which way a line was crossed (see `LineSpec`).
public enum CrossingDirection: String, Sendable, Equatable, Codable {
    case inward = "in"
    case outward = "out"
}

/// One event: its id (unique across restarts when the prefix is), what, where, which track, which
/// way (lines), and the stream time in seconds of the frame it happened on.
public struct AnalyticsEvent: Sendable, Equatable, Codable {
    public var id: String
    public var type: AnalyticsEventType
    public var line: String?
    public var zone: String?
    public var track: UInt64
    public var direction: CrossingDirection?
    public var time: Double

    public init(
        id: String, type: AnalyticsEventType, line: String? = nil, zone: String? = nil, track: UInt64,
        direction: CrossingDirection? = nil, time: Double
    ) {
        self.id = id
        self.type = type
        self.line = line
        self.zone = zone
        self.track = track
        self.direction = direction
        self.time = time
    }
}

/// Lines, zones and dwell on one stream's tracks: a value, fed each frame's confirmed tracks in order
/// with the frame's time; no I/O, no clock.
///
/// - A line counts a track when its anchor passes from one side of the segment to the other, through
///   the segment (not beyond its ends), once per track per direction. A band of
///   `hysteresis` x the box's height (at least 2 px) on either side of the line is neither side: a
///   box that jitters on the line changes no side until it leaves the band, so it is not counted
///   back and forth.
/// - A zone holds a track from the frame its anchor is inside the polygon to the frame it is
///   outside and more than the same band away from every edge (or unseen for `gone` seconds):
///   `zone_entered` and `zone_left` once each, live occupancy, and `loitering` once when it has
///   stayed `loiter_s`.
/// - Bounded: a track unseen for `gone` seconds is forgotten (leaving its zones), and at most
///   `maxTracks` are held (the longest unseen is forgotten first).
public struct StreamAnalytics: Sendable {
    public let spec: AnalyticsSpec
    /// Band on each side of a line or zone edge, as a fraction of the box's height.
    public var hysteresis = 0.1
    /// Seconds unseen after which a track is forgotten (its zones left). Above the tracker's own
    /// retention (3 s), so that a track lost and found again keeps its state.
    public var gone = 4.0
    /// Tracks held at most.
    public var maxTracks = 4096

    private let idPrefix: String
    /// Events issued so far (the last id's number).
    public private(set) var sequence: UInt64 = 0
    private var tracks: [UInt64: TrackState] = [:]
    /// Crossings per line, in order of `spec.lines`.
    public private(set) var crossings: [(inward: Int, outward: Int)]
    /// Tracks inside each zone, in order of `spec.zones`.
    public private(set) var occupancy: [Int]

    /// One track's state against every line and zone.
    private struct TrackState: Sendable {
        var lastSeen: Double
        /// Per line: the side last seen outside the band (-1 left, +1 right, 0 not yet), where the
        /// anchor was then, and the directions already counted.
        var sides: [Int8]
        var lastClear: [Point?]
        var counted: [UInt8]
        /// Per zone: since when inside (nil: outside), and whether loitering was said.
        var insideSince: [Double?]
        var loitered: [Bool]
    }

    /// Analytics for `spec` (validated by the caller); event ids are `idPrefix-N`.
    /// Watches `spec`; event ids are `<idPrefix>-<n>`, n going on after `issued` (the events of the
    /// same stream's lines and zones before these replaced them).
    public init(spec: AnalyticsSpec, idPrefix: String, after issued: UInt64 = 0) {
        self.spec = spec
        self.idPrefix = idPrefix
        sequence = issued
        crossings = Array(repeating: (0, 0), count: spec.lines.count)
        occupancy = Array(repeating: 0, count: spec.zones.count)
    }

    /// Tracks held now.
    public var trackCount: Int { tracks.count }

    /// The events of the frame at `time` whose confirmed tracks are `objects`.
    public mutating func update(_ objects: [Observation], at time: Double) -> [AnalyticsEvent] {
        guard time.isFinite else { return [] }
        var events: [AnalyticsEvent] = []
        for object in objects {
            guard object.box.count == 4, object.box.allSatisfy(\.isFinite) else { continue }
            var state =
                tracks[object.track]
                ?? TrackState(
                    lastSeen: time, sides: Array(repeating: 0, count: spec.lines.count),
                    lastClear: Array(repeating: nil, count: spec.lines.count),
                    counted: Array(repeating: 0, count: spec.lines.count),
                    insideSince: Array(repeating: nil, count: spec.zones.count),
                    loitered: Array(repeating: false, count: spec.zones.count))
            state.lastSeen = time
            let band = max(2, hysteresis * abs(object.box[3] - object.box[1]))
            for (i, line) in spec.lines.enumerated() where line.classes?.contains(object.label) ?? true {
                if let e = cross(line, i, object, band: band, state: &state, at: time) { events.append(e) }
            }
            for (i, zone) in spec.zones.enumerated() where zone.classes?.contains(object.label) ?? true {
                events += visit(zone, i, object, band: band, state: &state, at: time)
            }
            tracks[object.track] = state
        }
        events += forget(at: time)
        return events
    }

    private mutating func cross(
        _ line: LineSpec, _ i: Int, _ object: Observation, band: Double, state: inout TrackState, at time: Double
    ) -> AnalyticsEvent? {
        guard let p = line.anchor.point(of: object.box) else { return nil }
        let d = Geometry.side(p, line.from, line.to)
        let side: Int8 = d > band ? 1 : d < -band ? -1 : 0
        guard side != 0 else { return nil }
        defer {
            state.sides[i] = side
            state.lastClear[i] = p
        }
        guard state.sides[i] != 0, side != state.sides[i], let before = state.lastClear[i],
            Geometry.intersects(before, p, line.from, line.to)
        else { return nil }
        let direction: CrossingDirection = side > 0 ? .inward : .outward
        let bit: UInt8 = direction == .inward ? 1 : 2
        guard state.counted[i] & bit == 0 else { return nil }
        state.counted[i] |= bit
        if direction == .inward { crossings[i].inward += 1 } else { crossings[i].outward += 1 }
        return event(.lineCrossed, line: line.name, track: object.track, direction: direction, at: time)
    }

    private mutating func visit(
        _ zone: ZoneSpec, _ i: Int, _ object: Observation, band: Double, state: inout TrackState, at time: Double
    ) -> [AnalyticsEvent] {
        guard let p = zone.anchor.point(of: object.box) else { return [] }
        var out: [AnalyticsEvent] = []
        if Geometry.contains(zone.points, p) {
            if state.insideSince[i] == nil {
                state.insideSince[i] = time
                state.loitered[i] = false
                occupancy[i] += 1
                out.append(event(.zoneEntered, zone: zone.name, track: object.track, at: time))
            }
            if let since = state.insideSince[i], let loiter = zone.loiterSeconds, !state.loitered[i],
                time - since >= loiter
            {
                state.loitered[i] = true
                out.append(event(.loitering, zone: zone.name, track: object.track, at: time))
            }
        } else if state.insideSince[i] != nil, Self.distance(p, to: zone.points) > band {
            state.insideSince[i] = nil
            occupancy[i] -= 1
            out.append(event(.zoneLeft, zone: zone.name, track: object.track, at: time))
        }
        return out
    }

    /// Forgets the tracks unseen for `gone` seconds (and the longest unseen past `maxTracks`); each
    /// leaves the zones it was in.
    private mutating func forget(at time: Double) -> [AnalyticsEvent] {
        var stale = tracks.filter { time - $0.value.lastSeen > gone }.map(\.key)
        if tracks.count - stale.count > maxTracks {
            let kept = Set(stale)
            let oldest = tracks.filter { !kept.contains($0.key) }.sorted { $0.value.lastSeen < $1.value.lastSeen }
            stale += oldest.prefix(tracks.count - stale.count - maxTracks).map(\.key)
        }
        var out: [AnalyticsEvent] = []
        for id in stale.sorted() {
            guard let state = tracks.removeValue(forKey: id) else { continue }
            for (i, since) in state.insideSince.enumerated() where since != nil {
                occupancy[i] -= 1
                out.append(event(.zoneLeft, zone: spec.zones[i].name, track: id, at: time))
            }
        }
        return out
    }

    private mutating func event(
        _ type: AnalyticsEventType, line: String? = nil, zone: String? = nil, track: UInt64,
        direction: CrossingDirection? = nil, at time: Double
    ) -> AnalyticsEvent {
        sequence += 1
        return AnalyticsEvent(
            id: "\(idPrefix)-\(sequence)", type: type, line: line, zone: zone, track: track, direction: direction,
            time: time)
    }

    /// Distance from `p` to the nearest edge of `polygon`.
    static func distance(_ p: Point, to polygon: [Point]) -> Double {
        var best = Double.infinity
        for i in polygon.indices {
            let (a, b) = (polygon[i], polygon[(i + 1) % polygon.count])
            let ab = b - a
            let length2 = ab.x * ab.x + ab.y * ab.y
            let t = length2 > 0 ? max(0, min(1, ((p.x - a.x) * ab.x + (p.y - a.y) * ab.y) / length2)) : 0
            let dx = p.x - (a.x + t * ab.x)
            let dy = p.y - (a.y + t * ab.y)
            best = min(best, (dx * dx + dy * dy).squareRoot())
        }
        return best
    }
}
