import Foundation
import TestSupport
import Testing
import VideoIO

@testable import Runtime

/// Tracking on the real detector and vtest.avi: track ids in the events, and the detector on every
/// N-th frame with the tracker answering the others. Asserted on contents and order only.
@Suite("Tracking in the pipeline", .serialized)
struct TrackingPipelineTests {
    /// One events line, as the tests read it.
    struct Line {
        var frame: Int
        var inferred: Bool
        var batch: Int
        /// (track id or nil, score, box) of each detection.
        var detections: [(track: Int?, score: Double, box: [Double])]
    }

    /// Runs the first `frames` frames of vtest.avi with `tracking` (nil: not tracked) in `mode`;
    /// the events lines and the run's stats.
    static func run(
        _ tracking: TrackingSettings?, frames: Int = 90, mode: PipelineMode = .batched, annotate: String? = nil,
        scoreThreshold: Float? = nil, source: String = TestAssets.video
    ) async throws -> (lines: [Line], stats: RunStats) {
        let dir = TestAssets.temporaryDirectory("tracking")
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(source: source, model: TestAssets.detector)
        options.mode = mode
        options.batchSize = mode == .sequential ? 1 : 4
        options.maxFrames = frames
        options.tracking = tracking
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        options.annotatePath = annotate
        options.scoreThreshold = scoreThreshold
        let report = try await DetectionPipeline(options: options).run()
        let text = try String(contentsOfFile: options.eventsPath!, encoding: .utf8)
        let lines = try text.split(separator: "\n").map { raw -> Line in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
            let found = (o["detections"] as? [[String: Any]] ?? []).map { d in
                (track: d["track"] as? Int, score: d["score"] as? Double ?? 0, box: d["box"] as? [Double] ?? [])
            }
            return Line(
                frame: o["frame"] as? Int ?? -1, inferred: o["inferred"] as? Bool ?? true,
                batch: o["batch"] as? Int ?? -1,
                detections: found)
        }
        return (lines, report.stats)
    }

    @Test(
        "--track on every frame: the detections a run without tracking reports are all there, most in a track; ids are never reused for another object at once"
    )
    func everyFrame() async throws {
        let plain = try await Self.run(nil, frames: 60)
        let tracked = try await Self.run(TrackingSettings(), frames: 60)
        try #require(plain.lines.count == 60 && tracked.lines.count == 60)
        var inTrack = 0
        var all = 0
        for (p, t) in zip(plain.lines, tracked.lines) {
            #expect(p.frame == t.frame && t.inferred)
            // What the model reports on its own is kept (weak detections only ever add to a track).
            for d in p.detections {
                #expect(t.detections.contains { $0.box == d.box && $0.score == d.score }, "frame \(p.frame)")
            }
            let ids = t.detections.compactMap(\.track)
            #expect(Set(ids).count == ids.count, "one object per track on frame \(t.frame)")
            inTrack += ids.count
            all += t.detections.count
        }
        #expect(all > 0 && Double(inTrack) / Double(all) > 0.8, "\(inTrack) of \(all) detections in a track")
        #expect(tracked.stats.streams.first?.tracked == 0 && plain.stats.streams.first?.tracked == nil)
    }

    @Test(
        "--score-threshold 0.3 reports weaker detections too, every one of them at least 0.3, and all the default ones")
    func scoreThreshold() async throws {
        let plain = try await Self.run(nil, frames: 30)
        let low = try await Self.run(nil, frames: 30, scoreThreshold: 0.3)
        let scores = low.lines.flatMap { $0.detections.map(\.score) }
        #expect(scores.allSatisfy { $0 >= 0.3 } && scores.contains { $0 < 0.5 })
        for (p, l) in zip(plain.lines, low.lines) {
            #expect(p.detections.allSatisfy { d in l.detections.contains { $0.box == d.box } }, "frame \(p.frame)")
        }
    }

    @Test(
        "--infer-every 3: every frame answered once, in order; the detector on every third, the tracker on the others with the ids of the frame before",
        arguments: [PipelineMode.batched, .sequential])
    func interval(_ mode: PipelineMode) async throws {
        let video = TestAssets.temporaryDirectory("annotated").appendingPathComponent("tracked.mp4").path
        defer { try? FileManager.default.removeItem(atPath: (video as NSString).deletingLastPathComponent) }
        let (lines, stats) = try await Self.run(TrackingSettings(inferEvery: 3), mode: mode, annotate: video)
        #expect(lines.map(\.frame) == Array(0..<90), "every frame once, in order")
        // The annotated video holds every frame, the tracked ones too.
        let decoder = try VideoDecoder(input: video)
        var pictures = 0
        while try decoder.nextFrame() != nil { pictures += 1 }
        #expect(pictures == 90)
        var held = 0
        for (k, line) in lines.enumerated() {
            #expect(line.inferred == (line.frame % 3 == 0), "frame \(line.frame)")
            if !line.inferred {
                #expect(line.batch == 0)
                // Tracks, and what the last detected frame reported outside any track, unmoved.
                let detected = lines[k - line.frame % 3]
                let untracked = detected.detections.filter { $0.track == nil }
                for d in line.detections where d.track == nil {
                    let isHeld = untracked.contains { $0.score == d.score && $0.box == d.box }
                    #expect(isHeld, "frame \(line.frame): \(d) is neither tracked nor held")
                    held += 1
                }
            }
        }
        #expect(held > 0, "detections outside any track are held on skipped frames")
        // Ids carry across: a tracked frame's ids are the tracks of the frame before it.
        var carried = 0
        for (before, line) in zip(lines, lines.dropFirst()) where !line.inferred {
            let previous = Set(before.detections.compactMap(\.track))
            let now = Set(line.detections.compactMap(\.track))
            #expect(now.isSubset(of: previous), "frame \(line.frame): \(now) not in \(previous)")
            carried += now.count
        }
        #expect(carried > 0, "tracks were answered on skipped frames")
        #expect(stats.streams.first?.tracked == 60 && stats.streams.first?.frames == 90)
        #expect(stats.frames == 90 && stats.dropped == 0)

        // The tracker's boxes are where the detector would have found the objects: most of them
        // overlap a box of the every-frame run on the same frame (IoU >= 0.5).
        let reference = try await Self.run(TrackingSettings(), mode: mode).lines
        var (matched, answered) = (0, 0)
        for line in lines where !line.inferred {
            for d in line.detections {
                answered += 1
                if reference[line.frame].detections.contains(where: { iou($0.box, d.box) >= 0.5 }) { matched += 1 }
            }
        }
        #expect(answered > 0 && Double(matched) / Double(answered) > 0.7, "\(matched) of \(answered) matched")
    }
}

extension TrackingPipelineTests {
    @Test(
        "motion: true on a real scene that stands still for 4 s, then walks: the still part detected once a second with its tracks answered between, the walking part detected every frame; every frame once, in order",
        arguments: [PipelineMode.batched, .sequential])
    func motion(_ mode: PipelineMode) async throws {
        // vtest.avi's first frame held for 40 frames (4 s at 10 fps), then its next 40 frames.
        let dir = TestAssets.temporaryDirectory("motion")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent("still-then-walking.mp4").path
        let decoder = try VideoDecoder(input: TestAssets.video)
        let first = try #require(try decoder.nextFrame())
        let encoder = try VideoEncoder(output: clip, width: first.width, height: first.height, frameRate: 10)
        for _ in 0..<40 { try encoder.write(rgb: first.pixels) }
        for _ in 0..<40 { try encoder.write(rgb: try #require(try decoder.nextFrame()).pixels) }
        try encoder.finish()

        let (lines, stats) = try await Self.run(TrackingSettings(motion: true), frames: 80, mode: mode, source: clip)
        #expect(lines.map(\.frame) == Array(0..<80), "every frame once, in order")
        let still = lines.prefix(40).filter(\.inferred).map(\.frame)
        // Detected at the start, then once a second (every 10th frame), give or take the frame
        // the clock lands on.
        #expect((3...5).contains(still.count) && still.first == 0, "still part detected at \(still)")
        // Between, the tracker answers with the tracks of the last detection.
        #expect(lines.prefix(40).contains { !$0.inferred && !$0.detections.isEmpty })
        // People walk: almost every frame changes.
        let walking = lines.suffix(40).filter(\.inferred).count
        #expect(walking >= 36, "\(walking) of 40 walking frames detected")
        let skipped = stats.streams.first?.tracked ?? -1
        #expect(skipped == 80 - still.count - walking && stats.dropped == 0)
    }
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
private func iou(_ a: [Double], _ b: [Double]) -> Double {
    let ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    let iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return union > 0 ? ix * iy / union : 0
}
