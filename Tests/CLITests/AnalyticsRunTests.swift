import Foundation
import TestSupport
import Testing

/// `run --line/--zone` on the real detector and vtest.avi: events in the frames' lines.
@Suite("batchline run: lines and zones", .serialized)
struct AnalyticsRunTests {
    /// The events of a run of vtest.avi with a line down its middle and a zone over its lower half.
    static func events(_ extra: [String] = []) throws -> (lines: [[String: Any]], events: [[String: Any]]) {
        let dir = TestAssets.temporaryDirectory("analytics")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("events.jsonl").path
        let r = try runBatchline(
            [
                "run", "--source", TestAssets.video, "--model", TestAssets.detector, "--events", path,
                "--line", "mid=384,150,384,576", "--zone", "plaza=100,300,700,300,700,570,100,570",
            ] + extra, timeout: 300)
        try #require(r.status == 0, "\(r.stderr)")
        let lines = eventLines(path)
        return (lines, lines.flatMap { $0["events"] as? [[String: Any]] ?? [] })
    }

    @Test(
        "Crossings both ways and zone entries and exits on the real video, each with its id, track and time; at --infer-every 3 too; the zone's occupancy never negative"
    )
    func realVideo() throws {
        for extra in [[], ["--infer-every", "3"]] {
            let (lines, events) = try Self.events(["--track"] + extra)
            #expect(lines.count == 795, "every frame once")
            let ids = events.compactMap { $0["id"] as? String }
            #expect(ids.count == events.count && Set(ids).count == ids.count, "ids unique")
            let crossings = events.filter { $0["type"] as? String == "line_crossed" }
            #expect(
                crossings.allSatisfy { $0["line"] as? String == "mid" && $0["track"] is Int && $0["time"] is Double })
            let directions = Set(crossings.compactMap { $0["direction"] as? String })
            #expect(directions == ["in", "out"], "\(extra): \(crossings.count) crossings")
            // Once per track per direction.
            let keys = crossings.map { "\($0["track"] ?? -1)-\($0["direction"] ?? "")" }
            #expect(Set(keys).count == keys.count)
            // Entered before left, per track; occupancy replayed never below 0.
            var inside = Set<Int>()
            for e in events where e["zone"] != nil {
                let track = e["track"] as? Int ?? -1
                switch e["type"] as? String {
                case "zone_entered": #expect(inside.insert(track).inserted, "entered twice: \(track)")
                case "zone_left": #expect(inside.remove(track) != nil, "left without entering: \(track)")
                default: break
                }
            }
            #expect(events.contains { $0["type"] as? String == "zone_entered" })
        }
    }

    @Test(
        "Bad lines and zones: one line naming what is wrong, exit 1 (equal points, too few numbers, crossing edges, outside the frame)"
    )
    func refusals() throws {
        let cases: [([String], String)] = [
            (["--line", "bad=1,1,1,1"], "lines[0] (bad): from and to are the same point"),
            (["--line", "bad=1,2,3"], "--line bad=1,2,3: write NAME=x1,y1,x2,y2"),
            (["--zone", "z=0,0,10,10,10,0,0,10"], "zones[0] (z): its edges cross"),
            (["--zone", "z=1,1,2,2"], "write NAME=x1,y1,x2,y2,x3,y3"),
            (["--line", "far=0,0,2000,0"], "lines[0] (far): a point is outside the 768x576 frame"),
        ]
        for (args, words) in cases {
            let r = try runBatchline(
                ["run", "--source", TestAssets.video, "--model", TestAssets.detector, "--max-frames", "5"] + args,
                timeout: 120)
            #expect(r.status == 1, "\(args)")
            let errors = r.stderr.split(separator: "\n").filter { !$0.hasPrefix(" ") && !$0.isEmpty }
            #expect(errors.count == 1 && errors.first?.contains(words) == true, "\(args): \(r.stderr)")
        }
    }
}
