import Testing
import Vision

@testable import Tracking

@Suite("A tracked stream's answers")
struct StreamTrackerTests {
    func person(_ x: Double, _ score: Float) -> Detection {
        Detection(label: "person", classId: 0, score: score, box: [x, 100, x + 40, 200])
    }

    @Test(
        "Skipped frames answer the tracks where they are predicted, with ids, and what the detected frame reported outside any track, unmoved and without an id, for at most a second"
    )
    func heldUntracked() {
        var stream = StreamTracker(config: TrackerConfig(hitsToConfirm: 1))
        // A strong detection (a track at once) and one between the report threshold and a new
        // track's score (reported, untracked); one under the report threshold (neither).
        let detected = stream.inferred(
            [person(100, 0.9), person(400, 0.6), person(700, 0.3)], pts: 0, reportThreshold: 0.5)
        #expect(detected.count == 2 && detected[0].track == 1 && detected[1].track == nil)
        // The tracked one moves right 10 px a frame.
        _ = stream.inferred([person(110, 0.9), person(400, 0.6)], pts: 0.1, reportThreshold: 0.5)
        let skipped = stream.skipped(pts: 0.2)
        #expect(skipped.count == 2, "\(skipped)")
        let track = skipped.first { $0.track == 1 }
        #expect(track.map { $0.box[0] > 110 } == true, "predicted on: \(String(describing: track))")
        #expect(skipped.contains { $0.track == nil && $0.box == person(400, 0.6).box && $0.score == 0.6 })
        // Past a second since the detected frame the untracked one is no longer answered.
        let later = stream.skipped(pts: 1.2)
        #expect(later.allSatisfy { $0.track != nil } && later.count == 1, "\(later)")
        // A detected frame without it: nothing held.
        _ = stream.inferred([person(230, 0.9)], pts: 1.3, reportThreshold: 0.5)
        #expect(stream.skipped(pts: 1.4).allSatisfy { $0.track != nil })
    }
}
