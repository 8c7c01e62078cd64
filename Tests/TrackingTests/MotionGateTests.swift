import Testing

@testable import Tracking

/// The motion gate alone, on pictures made here: noise is not motion, a small walker is, a still
/// scene is detected once per floor, and change brings the detector back at once.
@Suite("Motion gate")
struct MotionGateTests {
    /// A 320x180 grey picture with noise of ±`noise` levels (a fixed pattern per `seed`) and a dark
    /// 12x30 box at `box` (a walker far off), if any.
    static func picture(seed: UInt64, noise: Int = 6, box: (x: Int, y: Int)? = nil) -> [UInt8] {
        let (w, h) = (320, 180)
        var state = seed &* 6_364_136_223_846_793_005 &+ 1
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let n = Int((state >> 33) % UInt64(2 * noise + 1)) - noise
                var v = 120 + n
                if let box, x >= box.x, x < box.x + 12, y >= box.y, y < box.y + 30 { v = 30 }
                let o = (y * w + x) * 3
                pixels[o] = UInt8(v)
                pixels[o + 1] = UInt8(v)
                pixels[o + 2] = UInt8(v)
            }
        }
        return pixels
    }

    static func detect(_ gate: inout MotionGate, _ pixels: [UInt8], at t: Double) -> Bool {
        pixels.withUnsafeBufferPointer { gate.shouldDetect(rgb: $0, width: 320, height: 180, time: t) }
    }

    @Test("Sensor noise alone is a still scene: detected at the first frame, then once per floor")
    func noiseIsStill() {
        var gate = MotionGate(floor: 1)
        var detected: [Int] = []
        for i in 0..<75 where Self.detect(&gate, Self.picture(seed: UInt64(i)), at: Double(i) / 25) {
            detected.append(i)
        }
        #expect(detected == [0, 25, 50])
        #expect(gate.still)
    }

    @Test("A small walker moving is a change every frame; once it stops the scene is still again")
    func walker() {
        var gate = MotionGate(floor: 1)
        #expect(Self.detect(&gate, Self.picture(seed: 0), at: 0))
        // Walks 3 pixels a frame for 20 frames: every frame detected.
        var moving = 0
        for i in 1...20
        where Self.detect(&gate, Self.picture(seed: UInt64(i), box: (40 + 3 * i, 80)), at: Double(i) / 25) {
            moving += 1
        }
        #expect(moving == 20)
        // Stands still: not detected again until the floor.
        var standing = 0
        for i in 21...40 where Self.detect(&gate, Self.picture(seed: UInt64(i), box: (100, 80)), at: Double(i) / 25) {
            standing += 1
        }
        #expect(standing == 0)
        #expect(gate.still)
        // Moves again: at once.
        #expect(Self.detect(&gate, Self.picture(seed: 41, box: (130, 80)), at: 41.0 / 25))
    }

    @Test("A slow change that no two frames show is caught against the last frame detected")
    func slowDrift() {
        var gate = MotionGate(floor: 100)
        #expect(Self.detect(&gate, Self.picture(seed: 0, noise: 0), at: 0))
        var detected = false
        // The walker creeps in 1 pixel a frame: each step alone is small.
        for i in 1...30 where Self.detect(&gate, Self.picture(seed: 0, noise: 0, box: (300 - i, 80)), at: Double(i)) {
            detected = true
        }
        #expect(detected)
    }

    @Test("Hostile frames do not crash it: a size change, a short buffer, a looping clock")
    func hostile() {
        var gate = MotionGate(floor: 1)
        #expect(Self.detect(&gate, Self.picture(seed: 0), at: 5))
        // Too few bytes for the size: detected (the gate cannot tell).
        #expect(
            [UInt8](repeating: 0, count: 10).withUnsafeBufferPointer {
                gate.shouldDetect(rgb: $0, width: 320, height: 180, time: 5.1)
            })
        // Another size: a change.
        let small = [UInt8](repeating: 9, count: 16 * 8 * 3)
        #expect(small.withUnsafeBufferPointer { gate.shouldDetect(rgb: $0, width: 16, height: 8, time: 5.2) })
        // Still at the same time: not detected.
        #expect(!small.withUnsafeBufferPointer { gate.shouldDetect(rgb: $0, width: 16, height: 8, time: 5.3) })
        // The clock runs back (a file loops): the floor starts again from there (detected now,
        // not a moment later); a time that is not a number is detected (the floor cannot be told).
        #expect(small.withUnsafeBufferPointer { gate.shouldDetect(rgb: $0, width: 16, height: 8, time: 0.1) })
        #expect(!small.withUnsafeBufferPointer { gate.shouldDetect(rgb: $0, width: 16, height: 8, time: 0.2) })
        #expect(small.withUnsafeBufferPointer { gate.shouldDetect(rgb: $0, width: 16, height: 8, time: .nan) })
    }
}
