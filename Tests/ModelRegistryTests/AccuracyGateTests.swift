import ModelRegistry
import Testing
import Vision

@Suite("Accuracy gate")
struct AccuracyGateTests {
    static func person(_ x: Double, _ y: Double, _ w: Double = 40, _ h: Double = 80, classId: Int = 1) -> Detection {
        Detection(label: "person", classId: classId, score: 0.9, box: [x, y, x + w, y + h])
    }

    @Test("The same detections: F1 1, mean IoU 1, passed")
    func identical() {
        var gate = AccuracyGate(metric: .f1)
        let frame = [Self.person(10, 10), Self.person(200, 50)]
        gate.add(original: frame, candidate: frame)
        #expect(gate.score == 1 && gate.meanIoU == 1 && gate.passed)
        #expect(gate.matched == 2 && gate.missed == 0 && gate.extra == 0)
    }

    @Test("A miss and an extra box count against F1; a box below IoU 0.7 or of another class is not a match")
    func missesAndExtras() {
        var gate = AccuracyGate(metric: .f1, threshold: 0.97)
        // Frame 1: one kept (shifted by 2 px: IoU 0.9), one missed, one extra.
        gate.add(
            original: [Self.person(10, 10), Self.person(200, 50)],
            candidate: [Self.person(12, 10), Self.person(400, 300)])
        // Frame 2: shifted by 15 px (IoU 0.45 < 0.7), and a box of another class where one was.
        gate.add(
            original: [Self.person(10, 10), Self.person(300, 10)],
            candidate: [Self.person(25, 10), Self.person(300, 10, classId: 2)])
        #expect(gate.frames == 2 && gate.matched == 1 && gate.missed == 3 && gate.extra == 3)
        #expect(abs(gate.score - 2.0 / 8.0) < 1e-9)
        #expect(abs(gate.meanIoU! - (38.0 * 80) / (2 * 40 * 80 - 38 * 80)) < 1e-9)
        #expect(!gate.passed)
        let figures = gate.figures(originalFPS: 100, candidateFPS: 125)
        #expect(!figures.passed && figures.matched == 1 && figures.missed == 3 && figures.extra == 3)
        #expect(figures.summary.hasPrefix("F1 0.250 (< 0.97: refused) on 2 held-back frames, mean IoU 0.905"))
        #expect(figures.summary.hasSuffix("100.0 -> 125.0 fps at batch 1 (1.25x)"))
    }

    @Test("Matching is one to one, best pairs first")
    func oneToOne() {
        var gate = AccuracyGate(metric: .f1)
        // Two candidates over one original: the closer one matches, the other is extra.
        gate.add(original: [Self.person(10, 10)], candidate: [Self.person(14, 10), Self.person(10, 10)])
        #expect(gate.matched == 1 && gate.extra == 1 && gate.meanIoU == 1)
    }

    @Test("Nothing on either side is agreement; no frames is never a pass")
    func emptyFrames() {
        var gate = AccuracyGate(metric: .f1)
        #expect(!gate.passed)
        gate.add(original: [], candidate: [])
        #expect(gate.score == 1 && gate.meanIoU == nil && gate.passed)
        // But a detector's original that found nothing cannot vouch for a candidate.
        #expect(!gate.canJudge && !gate.figures(originalFPS: 1, candidateFPS: 1).passed)
    }

    @Test("Classifiers: top-1 agreement")
    func top1() {
        var gate = AccuracyGate(metric: .top1, threshold: 0.9)
        let zero = [Detection(label: "0", classId: 0, score: 0.8, box: [0, 0, 1, 1])]
        let one = [Detection(label: "180", classId: 1, score: 0.6, box: [0, 0, 1, 1])]
        for i in 0..<10 { gate.add(original: zero, candidate: i == 0 ? one : zero) }
        #expect(gate.score == 0.9 && gate.passed && gate.meanIoU == nil)
        gate.add(original: zero, candidate: one)
        #expect(!gate.passed)
        #expect(
            gate.figures(originalFPS: 1, candidateFPS: 1).summary.hasPrefix("top-1 agreement 0.818 (< 0.90: refused)"))
    }
}
