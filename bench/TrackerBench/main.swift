// The tracker's cost per frame: `Tracker.update` on a synthetic 1920x1080 scene of N objects moving at
// constant velocities (bouncing off the edges), with jittered boxes, 5% missed detections and 10%
// low scores, at 30 frames/s. Timed: the update calls only (the scene's detections are made between
// them). Each N runs `runs` times; the best run counts. The reference, measured in the same run, is
// the same loop with one object: the ratio says what an object costs at N against alone (1 = linear).
import Foundation
import Tracking
import Vision

/// A deterministic scene: object i's start, velocity and size come from i; the jitter and the misses
/// from a linear congruential sequence, the same every run.
struct Scene {
    var centres: [(x: Double, y: Double)]
    var velocities: [(x: Double, y: Double)]
    var sizes: [(w: Double, h: Double)]
    var lcg: UInt64 = 12_345

    init(objects n: Int) {
        (centres, velocities, sizes) = ([], [], [])
        for i in 0..<n {
            let f = Double(i)
            let gx: Double = (f * 0.618_034).truncatingRemainder(dividingBy: 1)
            let gy: Double = (f * 0.381_966).truncatingRemainder(dividingBy: 1)
            centres.append((60 + gx * 1800, 60 + gy * 960))
            let vx: Double = 160 * sin(f * 1.3 + 0.4)
            let vy: Double = 90 * cos(f * 0.7 + 0.2)
            velocities.append((vx, vy))
            let w: Double = 40 + Double(i % 5) * 12
            let h: Double = 90 + Double(i % 7) * 15
            sizes.append((w, h))
        }
    }

    /// A number in 0..<1.
    mutating func unit() -> Double {
        lcg = lcg &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(lcg >> 11) / Double(UInt64(1) << 53)
    }

    /// Moves every object `dt` seconds on and returns what a detector would see.
    mutating func frame(dt: Double) -> [Detection] {
        var out: [Detection] = []
        out.reserveCapacity(centres.count)
        for i in centres.indices {
            var (c, v) = (centres[i], velocities[i])
            c.x += v.x * dt
            c.y += v.y * dt
            if c.x < 30 || c.x > 1890 { v.x = -v.x }
            if c.y < 50 || c.y > 1030 { v.y = -v.y }
            (centres[i], velocities[i]) = (c, v)
            let r = unit()
            guard r >= 0.05 else { continue }  // missed
            let score: Float = r < 0.15 ? 0.3 : 0.85
            let (w, h) = sizes[i]
            let jx = (unit() - 0.5) * 4
            let jy = (unit() - 0.5) * 4
            out.append(
                Detection(
                    label: i % 3 == 0 ? "car" : "person", classId: i % 3 == 0 ? 2 : 0, score: score,
                    box: [c.x - w / 2 + jx, c.y - h / 2 + jy, c.x + w / 2 + jx, c.y + h / 2 + jy]))
        }
        return out
    }
}

/// Seconds in a duration.
func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Best-of-`runs` microseconds per `update` (and per `predict`) with `objects` objects over `frames`
/// frames, and the ids the tracker gave in the last run.
func measure(objects: Int, frames: Int, runs: Int) -> (update: Double, predict: Double, ids: UInt64) {
    let clock = ContinuousClock()
    var best = (update: Double.infinity, predict: Double.infinity, ids: UInt64(0))
    for _ in 0..<runs {
        var scene = Scene(objects: objects)
        var tracker = Tracker()
        var spent = Duration.zero
        var predicting = Duration.zero
        var reported = 0
        for k in 0..<frames {
            let detections = scene.frame(dt: 1.0 / 30)
            let t = Double(k) / 30
            let start = clock.now
            reported &+= tracker.update(detections: detections, at: t).count
            spent += clock.now - start
            // A skipped frame after each, so that `predict` is measured too.
            let p = clock.now
            reported &+= tracker.predict(at: t + 1.0 / 60).count
            predicting += clock.now - p
        }
        precondition(reported > 0, "the tracker reported nothing")
        best.update = min(best.update, seconds(spent) * 1e6 / Double(frames))
        best.predict = min(best.predict, seconds(predicting) * 1e6 / Double(frames))
        best.ids = tracker.stats.confirmed
    }
    return best
}

if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "replay" {
    do {
        try replay(Array(CommandLine.arguments.dropFirst(2)))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("TrackerBench: \(error)\n".utf8))
        exit(1)
    }
}

let frames = 10_000
let runs = 3
let reference = measure(objects: 1, frames: frames, runs: runs)
print("tracker update, best of \(runs) runs of \(frames) frames (30 frames/s, 5% missed, 10% low scores)")
print("objects  update µs/frame  predict µs/frame  µs per object  per object vs 1 object  ids given")
for n in [1, 20, 100] {
    let m = n == 1 ? reference : measure(objects: n, frames: frames, runs: runs)
    let perObject = m.update / Double(n)
    print(
        String(
            format: "%-8d %-16.2f %-17.2f %-14.3f %-23.2f %d", n, m.update, m.predict, perObject,
            perObject / reference.update, m.ids))
}
