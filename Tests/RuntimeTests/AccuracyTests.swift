import Foundation
import Runtime
import TestSupport
import Testing
import Vision

@testable import Runtime

/// F1 of `ours` against `reference`, per frame: boxes matched greedily by IoU (best first) at
/// `iou` or more, among detections scoring `minScore` or more.
func f1Score(reference: [[Detection]], ours: [[Detection]], minScore: Float = 0.5, iou: Double = 0.7) -> (
    f1: Double, tp: Int, fp: Int, fn: Int
) {
    var tp = 0
    var fp = 0
    var fn = 0
    for (ref, got) in zip(reference, ours) {
        let r = ref.filter { $0.score >= minScore }
        let g = got.filter { $0.score >= minScore }
        var pairs: [(Double, Int, Int)] = []
        for (i, a) in r.enumerated() {
            for (j, b) in g.enumerated() { pairs.append((a.iou(b), i, j)) }
        }
        pairs.sort { $0.0 > $1.0 }
        var usedR = Set<Int>()
        var usedG = Set<Int>()
        for (v, i, j) in pairs where v >= iou && !usedR.contains(i) && !usedG.contains(j) {
            usedR.insert(i)
            usedG.insert(j)
        }
        tp += usedR.count
        fp += g.count - usedG.count
        fn += r.count - usedR.count
    }
    let f1 = 2 * tp + fp + fn > 0 ? Double(2 * tp) / Double(2 * tp + fp + fn) : 1
    return (f1, tp, fp, fn)
}

/// The reference made by scripts/make_reference.py: OpenVINO's Python API on full frames.
func loadReference() throws -> [[Detection]] {
    struct Reference: Decodable { var frames: [[[Double]]] }
    let data = try Data(contentsOf: TestAssets.fixture("vtest_reference.json"))
    return try JSONDecoder().decode(Reference.self, from: data).frames.map { frame in
        frame.map { Detection(label: "person", classId: 1, score: Float($0[4]), box: Array($0[0..<4])) }
    }
}

/// Event lines read back.
struct EventLine: Decodable {
    struct Found: Decodable {
        var label: String
        var score: Float
        var box: [Double]
    }
    var stream: Int
    var frame: Int
    var pts: Double
    var model: String
    var batch: Int
    var detections: [Found]

    var asDetections: [Detection] {
        detections.map { Detection(label: $0.label, classId: 1, score: $0.score, box: $0.box) }
    }
}

func readEvents(_ path: String) throws -> [EventLine] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { try JSONDecoder().decode(EventLine.self, from: Data($0.utf8)) }
}

@Suite("Detections on vtest.avi", .serialized)
struct AccuracyTests {
    @Test("Whole video: every frame once, in order, exact pts, and F1 >= 0.98 against the OpenCV-decoded reference")
    func matchesReference() async throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(source: TestAssets.video, model: TestAssets.detector)
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        options.statsPath = dir.appendingPathComponent("stats.json").path
        let report = try await DetectionPipeline(options: options).run()
        #expect(report.sourceError == nil)
        #expect(report.stats.frames == 795)
        #expect(report.stats.dropped == 0)

        let events = try readEvents(options.eventsPath!)
        #expect(events.count == 795)
        #expect(events.map(\.frame) == Array(0..<795))
        #expect(events.allSatisfy { abs($0.pts - Double($0.frame) / 10) < 1e-6 })
        #expect(events.allSatisfy { $0.model == "pedestrian-ssdlite@1" && $0.stream == 0 && $0.batch == 1 })

        let reference = try loadReference()
        #expect(reference.count == 795)
        let score = f1Score(reference: reference, ours: events.map(\.asDetections))
        print(
            "F1 against the full-frame OpenVINO reference: \(String(format: "%.4f", score.f1)) (tp \(score.tp), fp \(score.fp), fn \(score.fn))"
        )
        // The reference was made on a CPU that runs the model in bf16 (F1 0.99+ there); an AVX2-only
        // CPU runs it in f32 (F1 0.988 on 2026-12-02). The wrong resize stays below 0.97 on both.
        #expect(score.f1 >= 0.98)
        #expect(score.tp > 2000, "the reference has ~3000 people; matching few of them would be a broken test")

        let stats =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: options.statsPath!)))
            as? [String: Any]
        let stages = try #require(stats?["stages"] as? [String: [String: Double]])
        for stage in ["decode", "preprocess", "infer", "postprocess"] {
            let s = try #require(stages[stage], "stage \(stage)")
            #expect(s["mean_ms"]! > 0 && s["p50_ms"]! > 0 && s["p99_ms"]! >= s["p50_ms"]!, "stage \(stage): \(s)")
        }
        #expect(stats?["frames"] as? Int == 795)
        #expect((stats?["batch_sizes"] as? [String: Int]) == ["1": 795])
    }

    @Test("The wrong resize is measurably worse: the test can tell faithful pre-processing apart")
    func wrongResizeIsWorse() async throws {
        // Same model, sidecar switched to half-pixel bilinear, on the first 200 frames.
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sidecar = try String(contentsOfFile: TestAssets.detector + "/model.json", encoding: .utf8)
            .replacingOccurrences(of: "tf-legacy-bilinear", with: "half-pixel-bilinear")
        try sidecar.write(toFile: dir.appendingPathComponent("model.json").path, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: dir.appendingPathComponent("frozen_inference_graph.pb").path,
            withDestinationPath: TestAssets.detectorFile)
        var options = PipelineOptions(source: TestAssets.video, model: dir.path)
        options.maxFrames = 200
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        _ = try await DetectionPipeline(options: options).run()
        let wrong = f1Score(
            reference: Array(try loadReference().prefix(200)),
            ours: try readEvents(options.eventsPath!).map(\.asDetections))
        print("F1 with half-pixel bilinear instead of the model's resize: \(String(format: "%.4f", wrong.f1))")
        #expect(wrong.f1 < 0.97)
    }
}
