import Foundation
import Testing

@testable import Batching

@Suite("Batch controller phases")
struct PhaseTests {
    @Test("Keeping up: a probe is a trial, and so is every move, until it has run a dwell; a new model ends it")
    func trials() throws {
        var c = BatchController()
        #expect(c.phase == .steady)
        var seen: [(time: Double, why: DecisionReason.Kind?, phase: BatchController.Phase)] = []
        for k in 0..<30 {
            let d = drive(&c, costs: cpuLike, rate: { _ in 90 }, steps: 1, start: Double(k) * 0.5)
            seen.append((Double(k) * 0.5, d.first?.why.kind, c.phase))
        }
        // t=2: B=2 is probed: on trial against B=1, watched after every batch.
        let probe = try #require(seen.first { $0.why != nil })
        #expect(probe.time == 2 && probe.why == .probeUp)
        guard case .trying(let trial) = probe.phase else {
            Issue.record("a probe is a trial: \(probe.phase)")
            return
        }
        #expect(trial.size == 2 && trial.from == 1 && !trial.judged)
        // t=4: back to B=1 for latency, itself on trial (judged already: not a move for throughput).
        let back = try #require(seen.first { $0.time == 4 })
        #expect(back.why == .smallerTie && c.batch == 1)
        guard case .trying(let again) = back.phase else {
            Issue.record("a move is a trial: \(back.phase)")
            return
        }
        #expect(again.size == 1 && again.from == 2 && again.judged)
        // A dwell later, steady.
        #expect(seen.last?.phase == .steady && !c.wantsEarlyLook)
        // A new model ends a trial.
        var d = BatchController()
        _ = drive(&d, costs: cpuLike, rate: { _ in 90 }, steps: 6)
        #expect(d.wantsEarlyLook, "B=2 on trial: \(d.phase)")
        d.modelChanged()
        #expect(d.phase == .steady && !d.wantsEarlyLook)
    }

    @Test("Overloaded, a neighbour is tried; the load falls during its trial, which goes on; the overload returns")
    func overload() throws {
        var config = BatchController.Config()
        config.sizes = [1, 2]
        var c = BatchController(config: config)
        func look(_ t: Double, arrival: Double, output: Double, depth: Int, batches: Int) -> BatchDecision? {
            for _ in 0..<batches { c.observe(batch: c.batch, stageSeconds: [.infer: 0.02 * Double(c.batch)]) }
            return c.decide(
                LoadSnapshot(time: t, arrivalRate: arrival, outputRate: output, queueDepth: depth, queueCapacity: 32))
        }
        // Queues full, B=1 puts out 50 frames/s of 100: overloaded at once.
        let shed = try #require(look(0, arrival: 100, output: 50, depth: 30, batches: 1))
        #expect(shed.why.kind == .overloadShed && shed.overloaded)
        #expect(c.phase == .overloaded(since: 0))
        for t in [0.5, 1, 1.5] { #expect(look(t, arrival: 100, output: 50, depth: 30, batches: 1) == nil) }
        // Warmed up and its delivery known: B=2 is tried.
        let probe = try #require(look(2, arrival: 100, output: 50, depth: 30, batches: 1))
        #expect(probe.why == .overloadProbe(size: 1, rate: 50, arrivalRate: 100, probing: 2))
        #expect(c.phase == .probingOverload(.init(size: 2, from: 1, start: 2), since: 0))
        // The load falls; B=2 puts out plenty (it is not ended), but what it delivers is unknown.
        for t in [2.5, 3, 3.5] { #expect(look(t, arrival: 20, output: 20, depth: 0, batches: 20) == nil) }
        #expect(c.wantsEarlyLook == false, "judged already")
        let calm = try #require(look(4, arrival: 20, output: 20, depth: 0, batches: 20))
        #expect(calm.why == .loadFell(size: 2) && !calm.overloaded && !c.overloaded)
        guard case .recovering(let trial) = c.phase else {
            Issue.record("the trial outlives the overload: \(c.phase)")
            return
        }
        #expect(trial.size == 2 && trial.from == 1 && trial.judged)
        // Falling behind again: its delivery is measured, the trial is over, and the overload is said again.
        let again = try #require(look(4.5, arrival: 100, output: 50, depth: 30, batches: 1))
        #expect(again.why.kind == .overloadShed && again.overloaded)
        #expect(c.phase == .overloaded(since: 4.5))
    }
}

extension PhaseTests {
    @Test("Overloaded, two sizes that deliver alike (within a tie) do not trade places on their measurements' noise")
    func overloadNoFlipFlop() throws {
        var config = BatchController.Config()
        config.sizes = [1, 2]
        var c = BatchController(config: config)
        var moves: [BatchDecision] = []
        // 100 frames/s arriving, queues full; B=1 delivers 49 or 51, B=2 50 or 52, alternately.
        for k in 0..<120 {
            c.observe(batch: c.batch, stageSeconds: [.infer: 0.02 * Double(c.batch)])
            let output = (c.batch == 1 ? 49.0 : 50.0) + (k % 2 == 0 ? 0 : 2)
            let load = LoadSnapshot(
                time: Double(k) * 0.5, arrivalRate: 100, outputRate: output, queueDepth: 30, queueCapacity: 32)
            if let d = c.decide(load), d.to != d.from { moves.append(d) }
        }
        // B=2 is tried once and, not better by more than a tie, left; then nothing moves.
        #expect(moves.count <= 2, "\(moves.map(\.reason))")
        #expect(moves.filter { $0.why.kind == .overloadBack }.count <= 1, "\(moves.map(\.reason))")
    }
}

@Suite("Decision reasons")
struct DecisionReasonTests {
    static let prediction = DecisionReason.Prediction(
        bottleneck: [.infer], seconds: 0.0904, deadline: 0.0139, rate: 11.1)
    static let two = DecisionReason.Prediction(
        bottleneck: [.infer, .preprocess], seconds: 0.003, deadline: 0.0071, rate: 330.6)

    /// One of each, with the words they have always had (the stats, the HTTP API and the event feed show them).
    static let samples: [(DecisionReason, String)] = [
        (
            .trialPutOutLess(size: 2, batches: 4, rate: 4, from: 1, fromRate: 28.57),
            "B=2 ended after 4 batches: it put out 4.0 frames/s, plainly less than the 28.6 B=1 delivered: back to B=1"
        ),
        (
            .trialCostsLess(size: 8, batches: 3, rate: 114.5, from: 4, fromRate: 152.1),
            "B=8 ended after 3 batches: its stage costs give 114.5 frames/s, plainly less than B=4's 152.1: back to B=4"
        ),
        (
            .trialFellBehind(size: 2, arrivalRate: 149.5, queues: .init(depth: 12, capacity: 40), from: 1),
            "B=2 fell behind at 149.5 frames/s (queues 12/40); B=1 kept up: back to B=1"
        ),
        (
            .overloadBack(to: 1, rate: 156, size: 2, sizeRate: 155.1, arrivalRate: 170.5, shed: .dropOldest),
            "overload: B=1 delivered 156.0 frames/s, B=2 only 155.1, of 170.5 arriving: back to B=1, shedding by drop-oldest"
        ),
        (
            .overloadProbe(size: 1, rate: 7.9, arrivalRate: 20, probing: 2),
            "overload: B=1 delivers 7.9 frames/s of 20.0 arriving; probing B=2"
        ),
        (
            .overloadShed(
                size: 1, arrivalRate: 61.2, queues: .init(depth: 32, capacity: 32), shed: .dropOldest,
                prediction: prediction),
            "overload: falling behind at B=1 with 61.2 frames/s arriving (queues 32/32); shedding by drop-oldest "
                + "(bottleneck infer 0.0904 s per batch, deadline 0.0139 s, 11.1 frames/s)"
        ),
        (
            .requestsBack(requests: 3, rate: 150, to: 2, toRate: 150),
            "3 requests in flight gave 150.0 frames/s, no more than 2's 150.0: back to 2"
        ),
        (
            .requestsProbe(size: 1, requests: 2, rate: 150, probing: 3),
            "overload at B=1: probing 3 requests in flight (2 give 150.0 frames/s)"
        ),
        (.loadFell(size: 2), "load fell: B=2 keeps up again"),
        (
            .sloMissed(size: 8, slo: 0.25, to: 4, prediction: prediction),
            "p99 over the 250 ms SLO at B=8: B=4 (bottleneck infer 0.0904 s per batch, deadline 0.0139 s, 11.1 frames/s)"
        ),
        (.noLongerFits(size: 8, violation: .memory, to: 4, prediction: nil), "B=8 no longer fits (memory): B=4"),
        (
            .smallerTie(to: 1, size: 2, prediction: two),
            "B=1: same throughput as B=2, lower latency (bottleneck infer and preprocess 0.0030 s per batch, "
                + "deadline 0.0071 s, 330.6 frames/s)"
        ),
        (.highestWithinSLO(to: 4, slo: 0.25, prediction: nil), "B=4: highest throughput within the 250 ms p99 SLO"),
        (
            .highestKeepingUp(to: 16, prediction: two),
            "B=16: highest throughput that keeps up (bottleneck infer and preprocess 0.0030 s per batch, "
                + "deadline 0.0071 s, 330.6 frames/s)"
        ),
        (
            .lightLoad(to: 1, size: 4, arrivalRate: 30, prediction: nil),
            "light load (30.0 frames/s): B=1 from B=4, the smallest with room; a smaller batch waits less"
        ),
        (
            .intervalLonger(
                stream: "cam-1", from: 1, to: 3, arrivalRate: 200, rate: 120, queues: .init(depth: 30, capacity: 40),
                stability: 0.9),
            "stream cam-1: detector every 3 frames, was every frame: falling behind with 200.0 frames/s arriving, 120.0 "
                + "delivered (queues 30/40); tracks steady 0.90, the tracker answers the rest"
        ),
        (
            .intervalShorter(stream: "cam-1", from: 3, to: 2, arrivalRate: 40, after: 45, capacity: 90, stability: 0.2),
            "stream cam-1: detector every 2 frames, was every 3 frames: keeping up at 40.0 frames/s, 45.0 after it; "
                + "room within the 90.0 frames/s it can take"
        ),
        (.probeUp(to: 2, size: 1), "probing B=2: never measured, and B=1 keeps up"),
        (.probeDown(to: 4), "probing B=4: never measured; a smaller batch waits less"),
        (.aimdDecrease(p99: 0.12, slo: 0.1), "p99 120 ms over the 100 ms SLO: multiplicative decrease"),
        (.aimdIncrease(p99: 0.02), "p99 20 ms within the SLO: additive increase"),
        (.streamJoined(stream: "cam-1", streams: 3), "stream cam-1 joined: 3 streams"),
        (.streamLeft(stream: "1", streams: 0), "stream 1 left: 0 streams"),
        (.modelChanged(tag: "people@2"), "model changed to people@2: stage costs measured again"),
        (.text("said before reasons were typed"), "said before reasons were typed"),
    ]

    @Test("Every kind of reason says what it always said")
    func words() {
        #expect(Set(Self.samples.map(\.0.kind)) == Set(DecisionReason.Kind.allCases))
        for (why, words) in Self.samples { #expect(why.description == words) }
        #expect(
            DecisionReason.noLongerFits(size: 4, violation: .latency, to: 2, prediction: nil).description
                == "B=4 no longer fits (latency over the SLO): B=2")
        let unbounded = DecisionReason.overloadShed(
            size: 16, arrivalRate: 150, queues: .init(depth: 0), shed: .backlog, prediction: nil)
        #expect(
            unbounded.description
                == "overload: falling behind at B=16 with 150.0 frames/s arriving (queues 0); shedding by backlog")
    }

    @Test("In JSON a decision keeps its reason in words, with the typed reason beside it; both read back")
    func json() throws {
        for (why, _) in Self.samples {
            let decision = BatchDecision(
                time: 1.5, from: 1, to: 2, why: why, bottleneck: "infer", arrivalRate: 30, overloaded: false)
            let data = try JSONEncoder().encode(decision)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(object["reason"] as? String == why.description)
            #expect((object["why"] as? [String: Any])?["kind"] as? String == why.kind.rawValue)
            #expect(try JSONDecoder().decode(BatchDecision.self, from: data) == decision)
        }
        let probe = try JSONSerialization.jsonObject(
            with: JSONEncoder().encode(DecisionReason.probeUp(to: 2, size: 1)))
        #expect((probe as? [String: Any])?["to"] as? Int == 2 && (probe as? [String: Any])?["size"] as? Int == 1)
        // Written before reasons were typed: the words are kept.
        let old =
            #"{"time":1,"from":1,"to":2,"reason":"probing B=2: never measured, and B=1 keeps up","#
            + #""arrival_fps":30,"overloaded":false}"#
        let read = try JSONDecoder().decode(BatchDecision.self, from: Data(old.utf8))
        #expect(read.why == .text("probing B=2: never measured, and B=1 keeps up"))
        #expect(read.reason == "probing B=2: never measured, and B=1 keeps up" && read.to == 2)
    }
}
