/// A counting line: a name, a segment from `from` to `to` in pixels of the source frame, which
/// point of a box crosses it, and the classes it counts (all when nil).
///
/// Direction: `in` is a crossing from the left of the from -> to direction to its right, as seen on
/// the picture (y down): for a line drawn left to right, downward; for one drawn top to bottom,
/// leftward. `out` is the other way.
public struct LineSpec: Sendable, Equatable, Codable {
    public var name: String
    public var from: Point
    public var to: Point
    public var anchor: Anchor
    public var classes: Set<String>?

    public init(name: String, from: Point, to: Point, anchor: Anchor = .bottomCentre, classes: Set<String>? = nil) {
        self.name = name
        self.from = from
        self.to = to
        self.anchor = anchor
        self.classes = classes
    }
}

/// A zone: a name, a simple polygon (3 or more corners, no two edges crossing) in pixels of the
/// source frame, which point of a box must be inside, the classes it watches (all when nil), and
/// after how many seconds inside a track is loitering (never when nil).
public struct ZoneSpec: Sendable, Equatable, Codable {
    public var name: String
    public var points: [Point]
    public var anchor: Anchor
    public var classes: Set<String>?
    public var loiterSeconds: Double?

    public init(
        name: String, points: [Point], anchor: Anchor = .bottomCentre, classes: Set<String>? = nil,
        loiterSeconds: Double? = nil
    ) {
        self.name = name
        self.points = points
        self.anchor = anchor
        self.classes = classes
        self.loiterSeconds = loiterSeconds
    }
}

/// A stream's lines and zones.
public struct AnalyticsSpec: Sendable, Equatable, Codable {
    public var lines: [LineSpec]
    public var zones: [ZoneSpec]

    /// Lines and zones a stream may have, each.
    public static let maxItems = 64
    /// Corners a zone may have.
    public static let maxCorners = 256
    /// Characters a name may have.
    public static let maxName = 64
    /// Longest loitering time accepted, seconds (a day).
    public static let maxLoiter = 86_400.0

    public init(lines: [LineSpec] = [], zones: [ZoneSpec] = []) {
        self.lines = lines
        self.zones = zones
    }

    /// Whether there is nothing to watch.
    public var isEmpty: Bool { lines.isEmpty && zones.isEmpty }

    /// Checks the spec on its own: names (non-empty, printable, unique among lines and among zones),
    /// finite coordinates, a line's two points apart, a zone's 3 or more corners and no crossing
    /// edges, a positive loitering time, the counts within their limits. The first problem, naming
    /// the item (`lines[1] (door)`) and what is wrong.
    public func validate() throws(AnalyticsError) {
        guard lines.count <= Self.maxItems, zones.count <= Self.maxItems else {
            throw AnalyticsError(path: lines.count > Self.maxItems ? "lines" : "zones", "at most \(Self.maxItems)")
        }
        var names = Set<String>()
        for (i, line) in lines.enumerated() {
            let path = "lines[\(i)]"
            try Self.check(name: line.name, path: path, seen: &names)
            let at = "\(path) (\(line.name))"
            for p in [line.from, line.to] where !(p.x.isFinite && p.y.isFinite) {
                throw AnalyticsError(path: at, "coordinates must be finite numbers")
            }
            guard line.from != line.to else { throw AnalyticsError(path: at, "from and to are the same point") }
        }
        names = []
        for (i, zone) in zones.enumerated() {
            let path = "zones[\(i)]"
            try Self.check(name: zone.name, path: path, seen: &names)
            let at = "\(path) (\(zone.name))"
            guard zone.points.count >= 3 else {
                throw AnalyticsError(path: at, "a zone needs 3 or more points, got \(zone.points.count)")
            }
            guard zone.points.count <= Self.maxCorners else {
                throw AnalyticsError(path: at, "at most \(Self.maxCorners) points")
            }
            guard zone.points.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else {
                throw AnalyticsError(path: at, "coordinates must be finite numbers")
            }
            guard Set(zone.points).count == zone.points.count else {
                throw AnalyticsError(path: at, "two points are the same")
            }
            guard !Geometry.selfCrossing(zone.points) else {
                throw AnalyticsError(path: at, "its edges cross (give the points in order around the zone)")
            }
            if let s = zone.loiterSeconds, !(s > 0 && s <= Self.maxLoiter) {
                throw AnalyticsError(path: at, "loiter_s must be above 0 and at most \(Int(Self.maxLoiter))")
            }
        }
    }

    /// Checks the spec against the frame it will be applied to: every point within `width` x `height`.
    public func validate(width: Int, height: Int) throws(AnalyticsError) {
        try validate()
        func inside(_ p: Point) -> Bool { p.x >= 0 && p.y >= 0 && p.x <= Double(width) && p.y <= Double(height) }
        for (i, line) in lines.enumerated() where !(inside(line.from) && inside(line.to)) {
            throw AnalyticsError(path: "lines[\(i)] (\(line.name))", "a point is outside the \(width)x\(height) frame")
        }
        for (i, zone) in zones.enumerated() where !zone.points.allSatisfy(inside) {
            throw AnalyticsError(path: "zones[\(i)] (\(zone.name))", "a point is outside the \(width)x\(height) frame")
        }
    }

    private static func check(name: String, path: String, seen: inout Set<String>) throws(AnalyticsError) {
        guard !name.isEmpty, name.count <= maxName,
            name.unicodeScalars.allSatisfy({ !$0.properties.generalCategory.isControl })
        else { throw AnalyticsError(path: path, "name: 1 to \(maxName) printable characters") }
        guard seen.insert(name).inserted else { throw AnalyticsError(path: path, "name '\(name)' is used twice") }
    }
}

/// What is wrong with an analytics spec: where (`lines[1] (door)`) and what.
public struct AnalyticsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

extension Unicode.GeneralCategory {
    var isControl: Bool { self == .control || self == .format || self == .lineSeparator || self == .paragraphSeparator }
}
