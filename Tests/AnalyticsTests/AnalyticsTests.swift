import Testing

@testable import Analytics

/// A person's box whose bottom centre (the default anchor) is at (x, y), 40 x 100 px.
func person(_ track: UInt64, _ x: Double, _ y: Double, label: String = "person") -> Observation {
    Observation(track: track, label: label, box: [x - 20, y - 100, x + 20, y])
}

@Suite("Lines")
struct LineTests {
    /// A door line drawn left to right at y = 300, from x = 100 to 500: `in` is downward.
    let door = LineSpec(name: "door", from: Point(100, 300), to: Point(500, 300))

    func walk(_ a: inout StreamAnalytics, _ track: UInt64, xs: [Double], ys: [Double], from t0: Double = 0)
        -> [AnalyticsEvent]
    {
        var out: [AnalyticsEvent] = []
        for (k, (x, y)) in zip(xs, ys).enumerated() { out += a.update([person(track, x, y)], at: t0 + Double(k) * 0.1) }
        return out
    }

    @Test("A track crossing downward counts once `in`, upward once `out`, each with its line, track and time")
    func directions() {
        var a = StreamAnalytics(spec: AnalyticsSpec(lines: [door]), idPrefix: "r1")
        let down = walk(&a, 7, xs: [300, 300, 300, 300], ys: [250, 280, 320, 350])
        #expect(down.count == 1)
        #expect(down.first?.type == .lineCrossed && down.first?.line == "door" && down.first?.direction == .inward)
        #expect(down.first?.track == 7 && down.first?.time == 0.2 && down.first?.id == "r1-1")
        let up = walk(&a, 7, xs: [300, 300, 300], ys: [320, 280, 250], from: 1)
        #expect(up.map(\.direction) == [.outward] && up.first?.id == "r1-2")
        #expect(a.crossings.first?.inward == 1 && a.crossings.first?.outward == 1)
    }

    @Test("A box jittering on the line (within a tenth of its height) is counted at most once per direction")
    func jitter() {
        var a = StreamAnalytics(spec: AnalyticsSpec(lines: [door]), idPrefix: "r")
        // From above, onto the line, jittering +-8 px around it for 40 frames, then below.
        var ys: [Double] = [250]
        for k in 0..<40 { ys.append(300 + (k % 2 == 0 ? 8 : -8)) }
        ys.append(350)
        let events = walk(&a, 1, xs: Array(repeating: 300, count: ys.count), ys: ys)
        #expect(events.map(\.direction) == [.inward])
        // Back and forth across it far beyond the band: each direction still once for this track.
        let again = walk(&a, 1, xs: Array(repeating: 300, count: 6), ys: [250, 350, 250, 350, 250, 350], from: 10)
        #expect(again.map(\.direction) == [.outward], "\(again)")
        #expect(a.crossings.first?.inward == 1 && a.crossings.first?.outward == 1)
    }

    @Test("Passing beside the segment, beyond its ends, is no crossing; a class not listed is not counted")
    func beyondEndsAndClasses() {
        var a = StreamAnalytics(spec: AnalyticsSpec(lines: [door]), idPrefix: "r")
        #expect(walk(&a, 1, xs: [600, 600, 600], ys: [250, 300, 350]).isEmpty)
        var cars = door
        cars.classes = ["car"]
        var b = StreamAnalytics(spec: AnalyticsSpec(lines: [cars]), idPrefix: "r")
        #expect(walk(&b, 2, xs: [300, 300], ys: [250, 350]).isEmpty)
        let car =
            b.update([person(3, 300, 250, label: "car")], at: 0)
            + b.update([person(3, 300, 350, label: "car")], at: 0.1)
        #expect(car.count == 1)
    }

    @Test(
        "A track first seen on the far side, or only inside the band, counts nothing; a line at the frame's edge counts"
    )
    func firstSeenAndEdge() {
        var a = StreamAnalytics(spec: AnalyticsSpec(lines: [door]), idPrefix: "r")
        #expect(walk(&a, 1, xs: [300, 300], ys: [350, 360]).isEmpty)
        #expect(walk(&a, 2, xs: [300, 300, 300], ys: [295, 305, 298]).isEmpty)
        // A line 6 px above the bottom of a 576-px frame: boxes cut by the edge still cross it.
        let edge = LineSpec(name: "edge", from: Point(0, 570), to: Point(768, 570))
        var e = StreamAnalytics(spec: AnalyticsSpec(lines: [edge]), idPrefix: "r")
        e.hysteresis = 0.02
        let events = e.update([person(1, 300, 560)], at: 0) + e.update([person(1, 300, 576)], at: 0.1)
        #expect(events.map(\.direction) == [.inward])
    }
}

@Suite("Zones")
struct ZoneTests {
    let queue = ZoneSpec(
        name: "queue", points: [Point(100, 100), Point(400, 100), Point(400, 400), Point(100, 400)], loiterSeconds: 2)

    @Test("Entered, loitering once after loiter_s, left; occupancy follows; the edge's jitter does not flap")
    func enterLoiterLeave() {
        var a = StreamAnalytics(spec: AnalyticsSpec(zones: [queue]), idPrefix: "z")
        var events = a.update([person(1, 50, 250)], at: 0)
        #expect(events.isEmpty && a.occupancy == [0])
        events = a.update([person(1, 150, 250)], at: 0.5)
        #expect(events.map(\.type) == [.zoneEntered] && events.first?.zone == "queue" && a.occupancy == [1])
        // On the edge, jittering 5 px either way (the band is 10 px): still inside, nothing said.
        var jitter: [AnalyticsEvent] = []
        for k in 0..<10 { jitter += a.update([person(1, k % 2 == 0 ? 105 : 95, 250)], at: 1 + Double(k) * 0.05) }
        #expect(jitter.isEmpty && a.occupancy == [1])
        events = a.update([person(1, 200, 250)], at: 2.6)
        #expect(events.map(\.type) == [.loitering])
        #expect(a.update([person(1, 200, 250)], at: 3).isEmpty, "loitering is said once")
        events = a.update([person(1, 50, 250)], at: 3.5)
        #expect(events.map(\.type) == [.zoneLeft] && a.occupancy == [0])
    }

    @Test("A track that vanishes inside leaves once it is gone; a second track counts in the occupancy")
    func vanishes() {
        var a = StreamAnalytics(spec: AnalyticsSpec(zones: [queue]), idPrefix: "z")
        _ = a.update([person(1, 200, 200), person(2, 300, 300)], at: 0)
        #expect(a.occupancy == [2])
        _ = a.update([person(2, 300, 300)], at: 1)
        #expect(a.occupancy == [2], "not gone yet")
        let events = a.update([person(2, 300, 300)], at: 5)
        // Track 2 has stayed past loiter_s (said first, on its own frame); track 1 is gone.
        #expect(events.map(\.type) == [.loitering, .zoneLeft], "\(events)")
        #expect(events.map(\.track) == [2, 1] && a.occupancy == [1])
        #expect(a.trackCount == 1)
    }

    @Test("Bounded: past maxTracks the longest unseen are forgotten, leaving their zones")
    func bounded() {
        var a = StreamAnalytics(spec: AnalyticsSpec(zones: [queue]), idPrefix: "z")
        a.maxTracks = 10
        for k in 0..<50 { _ = a.update([person(UInt64(k), 200, 200)], at: Double(k) * 0.01) }
        #expect(a.trackCount == 10 && a.occupancy == [10])
    }
}

@Suite("Analytics spec")
struct AnalyticsSpecTests {
    @Test("Bad lines and zones are refused naming the item and what is wrong")
    func refusals() {
        let square = [Point(0, 0), Point(10, 0), Point(10, 10), Point(0, 10)]
        let cases: [(AnalyticsSpec, String)] = [
            (
                AnalyticsSpec(lines: [LineSpec(name: "a", from: Point(1, 1), to: Point(1, 1))]),
                "lines[0] (a): from and to are the same point"
            ),
            (AnalyticsSpec(lines: [LineSpec(name: "", from: Point(0, 0), to: Point(1, 1))]), "lines[0]: name"),
            (
                AnalyticsSpec(lines: [LineSpec(name: "a", from: Point(.nan, 0), to: Point(1, 1))]),
                "lines[0] (a): coordinates must be finite numbers"
            ),
            (
                AnalyticsSpec(
                    lines: Array(repeating: LineSpec(name: "a", from: Point(0, 0), to: Point(1, 1)), count: 2)),
                "lines[1]: name 'a' is used twice"
            ),
            (
                AnalyticsSpec(zones: [ZoneSpec(name: "z", points: [Point(0, 0), Point(1, 1)])]),
                "zones[0] (z): a zone needs 3 or more points, got 2"
            ),
            (
                AnalyticsSpec(zones: [
                    ZoneSpec(name: "z", points: [Point(0, 0), Point(10, 10), Point(10, 0), Point(0, 10)])
                ]),
                "zones[0] (z): its edges cross"
            ),
            (AnalyticsSpec(zones: [ZoneSpec(name: "z", points: square, loiterSeconds: 0)]), "zones[0] (z): loiter_s"),
            (AnalyticsSpec(zones: [ZoneSpec(name: "z", points: square + [Point(0, 0)])]), "two points are the same"),
        ]
        for (spec, words) in cases {
            #expect(throws: AnalyticsError.self) { try spec.validate() }
            do {
                try spec.validate()
            } catch {
                #expect(error.description.contains(words), "\(error.description)")
            }
        }
        let fine = AnalyticsSpec(
            lines: [LineSpec(name: "door", from: Point(0, 0), to: Point(10, 10))],
            zones: [ZoneSpec(name: "z", points: square, loiterSeconds: 60)])
        #expect(throws: Never.self) { try fine.validate() }
        #expect(throws: Never.self) { try fine.validate(width: 10, height: 10) }
        do {
            try fine.validate(width: 8, height: 8)
            Issue.record("points outside the frame passed")
        } catch {
            #expect(error.description == "lines[0] (door): a point is outside the 8x8 frame")
        }
    }
}
