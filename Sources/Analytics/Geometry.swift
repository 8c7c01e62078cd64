/// A point in pixels of the source frame (x right, y down).
public struct Point: Sendable, Equatable, Hashable, Codable {
    public var x: Double
    public var y: Double

    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }

    static func - (a: Point, b: Point) -> Point { Point(a.x - b.x, a.y - b.y) }

    /// The z of the cross product `a × b` (positive when `b` turns clockwise from `a` on a y-down
    /// picture).
    static func cross(_ a: Point, _ b: Point) -> Double { a.x * b.y - a.y * b.x }
}

/// Which point of a box stands for the object: where a person's feet or a car's wheels meet the
/// ground by default (`bottom_centre`), or the box's centre, or its top centre.
public enum Anchor: String, Sendable, Equatable, Codable, CaseIterable {
    case bottomCentre = "bottom_centre"
    case centre
    case topCentre = "top_centre"

    /// The anchor of box `[x1, y1, x2, y2]`; nil for a box that is not four finite numbers.
    func point(of box: [Double]) -> Point? {
        guard box.count == 4, box.allSatisfy(\.isFinite) else { return nil }
        let x = (box[0] + box[2]) / 2
        switch self {
        case .bottomCentre: return Point(x, max(box[1], box[3]))
        case .centre: return Point(x, (box[1] + box[3]) / 2)
        case .topCentre: return Point(x, min(box[1], box[3]))
        }
    }
}

enum Geometry {
    /// Which side of the line through `a` and `b` point `p` is on: the cross product of `b - a` and
    /// `p - a` divided by the segment's length, a signed distance in pixels (positive: to the right
    /// of a -> b as seen on a y-down picture).
    static func side(_ p: Point, _ a: Point, _ b: Point) -> Double {
        let d = b - a
        let length = (d.x * d.x + d.y * d.y).squareRoot()
        return length > 0 ? Point.cross(d, p - a) / length : 0
    }

    /// Whether segments `p1 p2` and `q1 q2` intersect (touching counts).
    static func intersects(_ p1: Point, _ p2: Point, _ q1: Point, _ q2: Point) -> Bool {
        func orient(_ a: Point, _ b: Point, _ c: Point) -> Double { Point.cross(b - a, c - a) }
        func onSegment(_ a: Point, _ b: Point, _ c: Point) -> Bool {
            min(a.x, b.x) <= c.x && c.x <= max(a.x, b.x) && min(a.y, b.y) <= c.y && c.y <= max(a.y, b.y)
        }
        let d1 = orient(q1, q2, p1)
        let d2 = orient(q1, q2, p2)
        let d3 = orient(p1, p2, q1)
        let d4 = orient(p1, p2, q2)
        if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) { return true }
        if d1 == 0 && onSegment(q1, q2, p1) { return true }
        if d2 == 0 && onSegment(q1, q2, p2) { return true }
        if d3 == 0 && onSegment(p1, p2, q1) { return true }
        if d4 == 0 && onSegment(p1, p2, q2) { return true }
        return false
    }

    /// Whether `p` is inside `polygon` (even-odd rule; a point on an edge may fall either way).
    static func contains(_ polygon: [Point], _ p: Point) -> Bool {
        var inside = false
        var j = polygon.count - 1
        for i in polygon.indices {
            let (a, b) = (polygon[i], polygon[j])
            if (a.y > p.y) != (b.y > p.y), p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside.toggle()
            }
            j = i
        }
        return inside
    }

    /// Whether two edges of `polygon` that do not share a corner cross.
    static func selfCrossing(_ polygon: [Point]) -> Bool {
        let n = polygon.count
        guard n > 3 else { return false }
        for i in 0..<n {
            for j in (i + 1)..<n {
                // Edges i and j share a corner when they are neighbours (the last wraps to the first).
                if j == i + 1 || (i == 0 && j == n - 1) { continue }
                if intersects(polygon[i], polygon[(i + 1) % n], polygon[j], polygon[(j + 1) % n]) { return true }
            }
        }
        return false
    }
}
