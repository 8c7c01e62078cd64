import Vision

@testable import Tracking

/// A seeded generator (xorshift64*), so that every "random" scene is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// A detection centred on `(cx, cy)`, `w`×`h` pixels.
func box(
    _ cx: Double, _ cy: Double, w: Double = 60, h: Double = 120, score: Float = 0.9, classId: Int = 0
) -> Detection {
    Detection(
        label: classId == 0 ? "person" : "car", classId: classId, score: score,
        box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
}

/// The id the tracker gave `detection` on a frame, if it reported it.
func id(of detection: Detection, in out: [TrackedObject]) -> UInt64? {
    out.first { $0.detection == detection }?.track
}

/// The centre of a box `[x1, y1, x2, y2]`.
func centre(_ b: [Double]) -> (x: Double, y: Double) { ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) }

/// 30 frames a second.
let frame = 1.0 / 30
