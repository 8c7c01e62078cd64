import Batching
import Foundation
import TestSupport
import Testing

@testable import Runtime

/// `infer_every: auto` under a real overload of real-time streams: intervals start at their longest,
/// the batch size manager shortens them as far as the room it measures allows and lengthens them
/// again before it sheds a frame, and every frame is still answered once, in order.
/// Asserted on counts and order only; how many cameras it keeps is a benchmark (bench/capacity.sh).
@Suite("Inference interval chosen by the load", .serialized)
struct AutoIntervalTests {
    struct Line: Decodable {
        var stream: Int
        var frame: Int
        var dropped: String?
        var inferred: Bool?
    }

    /// `streams` real-time copies of vtest.avi (10 fps), `frames` each, tracked with `tracking`.
    func run(
        streams: Int, frames: Int, engine: ScriptedEngine?, tracking: TrackingSettings,
        schedule: [Int: (join: Double, leave: Double?)] = [:]
    ) throws -> (
        stats: RunStats, lines: [Line]
    ) {
        let dir = TestAssets.temporaryDirectory("auto-interval")
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(
            sources: Array(repeating: TestAssets.video, count: streams), model: TestAssets.detector)
        options.mode = .batched
        options.batchPolicy = .realtime
        options.batchSizes = [1, 2, 4, 8]
        options.realtime = true
        options.maxFrames = frames
        options.tracking = tracking
        options.schedule = schedule
        // How busy the machine is (the other test lane, a build) must not decide whether intervals
        // shorten here: the CPU gate is IntervalControllerTests' to test.
        options.cpuBusy = { nil }
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        let report = try DetectionPipeline(options: options, engine: engine).runBlocking()
        let text = try String(contentsOfFile: options.eventsPath!, encoding: .utf8)
        let lines = try text.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        return (report.stats, lines)
    }

    /// Every frame of every stream once, in order: inferred, answered by the tracker, or shed
    /// (`frames` of each, or as many as a stream that left early read).
    func expectComplete(_ lines: [Line], streams: Int, frames: Int? = nil) {
        for s in 0..<streams {
            let got = lines.filter { $0.stream == s }.map(\.frame)
            #expect(got == Array(0..<(frames ?? got.count)), "stream \(s)")
        }
    }

    /// The order the decisions say things happened in: a shedding decision only once no interval
    /// could grow (every stream's interval long: at its longest for its measured rate, 5 at 10 fps,
    /// give or take the rate measured). Intervals start at their longest (a stream not yet in a
    /// decision is there) and are replayed from the decisions, each change from where the last left it.
    func expectIntervalsFirst(_ decisions: [BatchDecision]) {
        var interval: [String: Int] = [:]
        for d in decisions {
            switch d.why {
            case let .intervalLonger(stream, from, to, _, _, _, _), let .intervalShorter(stream, from, to, _, _, _, _):
                #expect(interval[stream].map { $0 == from } ?? true, "\(stream): \(d.reason)")
                interval[stream] = to
            case .overloadShed:
                #expect(interval.values.allSatisfy { $0 >= 4 }, "shed with intervals \(interval)")
            default:
                break
            }
        }
    }

    @Test(
        "Scheduling alone (a scripted detector, 40-60 frames/s): 8 cameras at 10 fps overload it; auto sheds only once every interval is long, and fewer frames than every-frame detection"
    )
    func scripted() throws {
        let (streams, frames) = (8, 60)
        let cost: @Sendable (Int) -> Double = { b in 0.05 + 0.01 * Double(b) }
        let every = try run(
            streams: streams, frames: frames, engine: ScriptedEngine(cost: cost), tracking: TrackingSettings())
        let auto = try run(
            streams: streams, frames: frames, engine: ScriptedEngine(cost: cost), tracking: TrackingSettings(auto: true)
        )
        expectComplete(every.lines, streams: streams, frames: frames)
        expectComplete(auto.lines, streams: streams, frames: frames)
        // Every frame to the detector is more than it can take: frames are shed.
        #expect(every.stats.dropped > 0)
        #expect(
            !every.stats.batchDecisions.contains { $0.why.kind == .intervalLonger || $0.why.kind == .intervalShorter })
        // Auto answers frames with the tracker instead, and sheds fewer (counted, not timed).
        let tracked = auto.lines.filter { $0.inferred == false }.count
        #expect(tracked > 0 && tracked == auto.stats.streams.compactMap(\.tracked).reduce(0, +))
        #expect(
            auto.stats.dropped < every.stats.dropped,
            "auto shed \(auto.stats.dropped), every frame \(every.stats.dropped)")
        expectIntervalsFirst(auto.stats.batchDecisions)
    }

    @Test(
        "The real detector, 12 real-time cameras, 10 of which leave at 6 s: nothing shed before every interval is long, back to 1 once the load fell; every frame answered once, in order"
    )
    func realDetector() throws {
        let (streams, frames) = (12, 220)
        var schedule: [Int: (join: Double, leave: Double?)] = [:]
        for s in 2..<streams { schedule[s] = (0, 6) }
        let auto = try run(
            streams: streams, frames: frames, engine: nil, tracking: TrackingSettings(auto: true), schedule: schedule)
        expectComplete(auto.lines, streams: streams)
        #expect(auto.lines.filter { $0.stream < 2 }.count == 2 * frames)
        #expect(auto.lines.contains { $0.inferred == false })
        let decisions = auto.stats.batchDecisions
        expectIntervalsFirst(decisions)
        #expect(decisions.contains { $0.why.kind == .intervalShorter }, "\(decisions.map(\.reason))")
        // The two that stayed: shortened back to every frame after the others left.
        let left = decisions.lastIndex {
            if case let .streamLeft(s, _) = $0.why { return s != "0" && s != "1" }
            return false
        }
        #expect(left != nil)
        for stream in ["0", "1"] {
            var interval = 0
            var shortenedAfterLeaving = false
            for (i, d) in decisions.enumerated() {
                switch d.why {
                case let .intervalLonger(s, _, to, _, _, _, _) where s == stream:
                    interval = to
                case let .intervalShorter(s, _, to, _, _, _, _) where s == stream:
                    interval = to
                    if let left, i > left { shortenedAfterLeaving = true }
                default:
                    break
                }
            }
            #expect(interval == 1, "stream \(stream): \(decisions.map(\.reason))")
            #expect(shortenedAfterLeaving, "stream \(stream): \(decisions.map(\.reason))")
        }
    }
}
