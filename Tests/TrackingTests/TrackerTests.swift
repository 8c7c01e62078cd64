import Testing
import Vision

@testable import Tracking

@Suite("Tracker: identities along known paths")
struct TrackerPathTests {
    @Test("Two people crossing paths keep their ids, detected every frame or every third")
    func crossing() throws {
        for every in [1, 3] {
            var tracker = Tracker()
            var ids: (a: Set<UInt64>, b: Set<UInt64>) = ([], [])
            // A walks right, B left, 200 px/s each, 12 px apart vertically: they overlap fully at 1 s.
            for k in 0...60 {
                let t = Double(k) * frame
                let a = box(200 + 200 * t, 300)
                let b = box(600 - 200 * t, 312)
                if k % every != 0 {
                    #expect(tracker.predict(at: t).count == 2)
                    continue
                }
                let out = tracker.update(detections: [a, b], at: t)
                #expect(out.count == 2, "frame \(k), every \(every)")
                id(of: a, in: out).map { _ = ids.a.insert($0) }
                id(of: b, in: out).map { _ = ids.b.insert($0) }
            }
            #expect(ids.a == [1] && ids.b == [2], "every \(every): \(ids)")
        }
    }

    @Test("An object hidden 0.5 s (less than the retention) keeps its id; lost, it is not reported")
    func occlusion() throws {
        var tracker = Tracker()
        var seen: Set<UInt64> = []
        for k in 0...75 {
            let t = Double(k) * frame
            let hidden = t > 1 && t <= 1.5
            let d = box(100 + 150 * t, 300 + 20 * t)
            let out = tracker.update(detections: hidden ? [] : [d], at: t)
            if hidden {
                #expect(out.isEmpty)
                #expect(tracker.predict(at: t + frame / 2).isEmpty)
                #expect(tracker.states == [.lost])
            } else {
                let got = try #require(id(of: d, in: out), "frame \(k)")
                seen.insert(got)
            }
        }
        #expect(seen == [1])
    }

    @Test("An object gone longer than the retention comes back as a new track, confirmed anew")
    func beyondRetention() throws {
        var tracker = Tracker(config: TrackerConfig(retention: 1.5))
        var ids: [UInt64] = []
        var t = 0.0
        for round in 0..<4 {
            for k in 0..<10 {
                let out = tracker.update(detections: [box(300, 300)], at: t)
                // Round 0 starts on the stream's first update: confirmed at once. Later ones need three hits.
                #expect(out.count == (round == 0 || k >= 2 ? 1 : 0), "round \(round), frame \(k)")
                if let o = out.first, ids.last != o.track { ids.append(o.track) }
                t += frame
            }
            for _ in 0..<60 {  // 2 s without it: past the retention
                _ = tracker.update(detections: [], at: t)
                t += frame
            }
            #expect(tracker.trackCount == 0)
        }
        #expect(ids == [1, 2, 3, 4])
        #expect(tracker.stats.confirmed == 4)
    }

    @Test("Ids are never reused: in a churning scene each id stands for one object")
    func neverReused() {
        var rng = SeededGenerator(seed: 11)
        var tracker = Tracker()
        // 12 lanes, each an object that comes and goes for random spells (often past the retention);
        // far apart, so that the truth is unambiguous: an id never changes lanes.
        var visible = [Bool](repeating: false, count: 12)
        var owner: [UInt64: Int] = [:]
        var lastId: UInt64 = 0
        for k in 0..<900 {
            let t = Double(k) * frame
            for i in visible.indices where Double.random(in: 0...1, using: &rng) < 0.01 {
                visible[i].toggle()
            }
            let dets = visible.indices.filter { visible[$0] }.map { box(100 + 150 * Double($0), 200 + 30 * t) }
            var fresh: [UInt64] = []
            for o in tracker.update(detections: dets, at: t) {
                let lane = Int(((o.detection.box[0] + o.detection.box[2]) / 2 - 100) / 150)
                if let known = owner[o.track] {
                    #expect(known == lane, "id \(o.track) moved lanes")
                } else {
                    owner[o.track] = lane
                    fresh.append(o.track)
                }
            }
            // Ids first seen on a frame are the next ones in order: none skipped, none seen before.
            #expect(fresh.sorted() == Array((lastId + 1)..<(lastId + 1 + UInt64(fresh.count))))
            lastId += UInt64(fresh.count)
        }
        #expect(UInt64(owner.count) == tracker.stats.confirmed)
        #expect(owner.count > 12)
    }

    @Test("A new object needs three hits; a flicker never gets an id and its track is removed")
    func birth() {
        var tracker = Tracker()
        _ = tracker.update(detections: [], at: 0)  // the first update: nothing in view
        #expect(tracker.update(detections: [box(100, 100)], at: 0.1).isEmpty)
        #expect(tracker.update(detections: [box(102, 100)], at: 0.2).isEmpty)
        #expect(tracker.update(detections: [box(104, 100)], at: 0.3).map(\.track) == [1])
        // A one-frame false positive elsewhere.
        #expect(tracker.update(detections: [box(106, 100), box(500, 500)], at: 0.4).map(\.track) == [1])
        #expect(tracker.trackCount == 2)
        #expect(tracker.update(detections: [box(108, 100)], at: 0.5).map(\.track) == [1])
        #expect(tracker.trackCount == 1)
        #expect(tracker.stats.confirmed == 1)
        // With a confirmation of one hit, a track is confirmed at birth.
        var eager = Tracker(config: TrackerConfig(hitsToConfirm: 1, confirmOnFirstUpdate: false))
        _ = eager.update(detections: [], at: 0)
        #expect(eager.update(detections: [box(100, 100)], at: 0.1).map(\.track) == [1])
    }

    @Test("Low-score detections keep a confirmed track alive but never start one")
    func lowScores() {
        var tracker = Tracker()
        #expect(tracker.update(detections: [box(100, 100)], at: 0).map(\.track) == [1])
        // 3 s of 0.3 scores (twice the retention), moving: the second stage keeps matching them.
        for k in 1...90 {
            let t = Double(k) * frame
            let out = tracker.update(detections: [box(100 + 60 * t, 100, score: 0.3)], at: t)
            #expect(out.map(\.track) == [1], "frame \(k)")
            #expect(out.first?.detection.score == 0.3)
        }
        // Low (and high-but-below-birth) scores alone start nothing.
        var fresh = Tracker()
        for k in 0..<30 {
            let dets = [box(100, 100, score: 0.3), box(400, 100, score: 0.55), box(700, 100, score: 0.05)]
            #expect(fresh.update(detections: dets, at: Double(k) * frame).isEmpty)
        }
        #expect(fresh.trackCount == 0)
    }

    @Test("Only the same class matches: a person box never continues a car's track")
    func perClass() throws {
        var tracker = Tracker()
        let car = box(300, 300, w: 160, h: 90, classId: 2)
        #expect(tracker.update(detections: [car], at: 0).map(\.track) == [1])
        var personIds: Set<UInt64> = []
        for k in 1...6 {
            let person = box(300, 300, w: 160, h: 90, classId: 0)
            let out = tracker.update(detections: [person], at: Double(k) * frame)
            #expect(id(of: person, in: out) != 1)
            out.forEach { personIds.insert($0.track) }
        }
        #expect(personIds == [2])  // its own track, confirmed on its third detection
        #expect(tracker.states == [.lost, .confirmed])
    }
}

@Suite("Tracker: prediction, bounds and hostile input")
struct TrackerRobustnessTests {
    @Test("Between detections every third frame, predicted boxes follow the true line within 3 px")
    func predictionFollowsPath() throws {
        var tracker = Tracker()
        func truth(_ t: Double) -> Detection { box(200 + 150 * t, 500 - 60 * t, w: 50, h: 110) }
        var predicted = 0
        for k in 0...90 {
            let t = Double(k) * frame
            guard k % 3 != 0 else {
                _ = tracker.update(detections: [truth(t)], at: t)
                continue
            }
            let out = tracker.predict(at: t)
            #expect(out.count == 1)
            guard t > 1, let o = out.first else { continue }  // after a second of convergence
            let (got, want) = (o.detection.box, truth(t).box)
            for i in 0..<4 { #expect(abs(got[i] - want[i]) < 3, "frame \(k): \(got) vs \(want)") }
            #expect(o.track == 1 && o.detection.score == 0.9 && o.detection.label == "person")
            predicted += 1
        }
        #expect(predicted > 30)
    }

    @Test("Predicting on skipped frames changes nothing the next update sees")
    func predictionIsHarmless() {
        var plain = Tracker()
        var predicting = Tracker()
        for k in 0...117 {  // ends on an update: both at the same time
            let t = Double(k) * frame
            let dets = [box(100 + 90 * t, 200), box(500 - 40 * t, 260, score: 0.4), box(300, 100 + 80 * t)]
            if k % 3 == 0 {
                let a = plain.update(detections: dets, at: t)
                let b = predicting.update(detections: dets, at: t)
                #expect(a == b)
            } else {
                _ = predicting.predict(at: t)
            }
        }
        #expect(plain.states == predicting.states)
        for (a, b) in zip(plain.tracks, predicting.tracks) {
            for i in 0..<4 { #expect(abs(a.filter.position[i] - b.filter.position[i]) < 1e-6) }
        }
    }

    @Test("No more than maxTracks are held; the rest are refused and counted")
    func maxTracks() {
        var tracker = Tracker(config: TrackerConfig(maxTracks: 8))
        let crowd = (0..<20).map { box(50 + 90 * Double($0), 300) }
        #expect(tracker.update(detections: crowd, at: 0).count == 8)
        #expect(tracker.trackCount == 8)
        #expect(tracker.stats.refusedBirths == 12)
        var rng = SeededGenerator(seed: 5)
        for k in 1..<300 {
            let dets = (0..<30).map { _ in
                box(Double.random(in: 0...1900, using: &rng), Double.random(in: 0...1000, using: &rng))
            }
            _ = tracker.update(detections: dets, at: Double(k) * frame)
            #expect(tracker.trackCount <= 8)
        }
    }

    @Test("Hostile input does not crash: bad boxes and scores are ignored, time never runs backwards")
    func hostile() {
        var tracker = Tracker()
        let good = box(200, 200)
        let bad = [
            Detection(label: "x", classId: 0, score: 0.9, box: [.nan, 0, 10, 10]),
            Detection(label: "x", classId: 0, score: 0.9, box: [0, 0, .infinity, 10]),
            Detection(label: "x", classId: 0, score: 0.9, box: [5, 5, 5, 50]),  // empty
            Detection(label: "x", classId: 0, score: 0.9, box: [50, 50, 10, 10]),  // inverted
            Detection(label: "x", classId: 0, score: 0.9, box: [0, 0, 10]),
            Detection(label: "x", classId: 0, score: 0.9, box: []),
            Detection(label: "x", classId: 0, score: 0.9, box: [-1e300, 0, 1e300, 10]),
            Detection(label: "x", classId: 0, score: .nan, box: [0, 0, 10, 10]),
            Detection(label: "x", classId: 0, score: -5, box: [0, 0, 10, 10]),
            Detection(label: "x", classId: 0, score: .infinity, box: [900, 900, 950, 990]),
        ]
        #expect(tracker.update(detections: [good] + bad, at: 10).map(\.track) == [1, 2])
        #expect(tracker.stats.invalidDetections == 8)
        // Time backwards: taken as the latest; the track goes on.
        #expect(tracker.update(detections: [good], at: 5).map(\.track) == [1])
        #expect(tracker.predict(at: 9).map(\.track) == [1])  // the other one is lost
        #expect(tracker.stats.clampedTimes == 2)
        // Non-finite times: the frame is ignored.
        #expect(tracker.update(detections: [good], at: .nan).isEmpty)
        #expect(tracker.predict(at: .infinity).isEmpty)
        #expect(tracker.update(detections: [good], at: -.infinity).isEmpty)
        #expect(tracker.stats.ignoredFrames == 3)
        #expect(tracker.update(detections: [good], at: 10 + frame).map(\.track) == [1])
        // A jump far ahead drops everything rather than predicting into overflow.
        #expect(tracker.update(detections: [good], at: 1e300).isEmpty)
        #expect(tracker.trackCount == 1)
        // Nonsense configuration is clamped into range.
        let odd = Tracker(
            config: TrackerConfig(
                highScore: .nan, firstStageIoU: -3, hitsToConfirm: -1, retention: .infinity, maxTracks: 0))
        let defaults = TrackerConfig()
        #expect(
            odd.config.highScore == defaults.highScore && odd.config.firstStageIoU == 0.01
                && odd.config.hitsToConfirm == 1)
        #expect(odd.config.retention == defaults.retention && odd.config.maxTracks == 1)
    }

    @Test("Memory stays bounded with uptime: everything that left is dropped")
    func bounded() {
        var tracker = Tracker()
        var rng = SeededGenerator(seed: 9)
        for k in 0..<3000 {
            let n = Int.random(in: 0...15, using: &rng)
            let dets = (0..<n).map { _ in
                box(Double.random(in: 0...1900, using: &rng), Double.random(in: 0...1000, using: &rng))
            }
            _ = tracker.update(detections: dets, at: Double(k) * frame)
            #expect(tracker.trackCount < 64)
        }
        _ = tracker.update(detections: [], at: 3000 * frame + tracker.config.retention + 0.1)
        #expect(tracker.trackCount == 0)
        #expect(tracker.stats.refusedBirths == 0)
    }
}
