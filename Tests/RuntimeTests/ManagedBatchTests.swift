import Batching
import Foundation
import Runtime
import TestSupport
import Testing
import Tools

@testable import Runtime

@Suite("Managed batch size and overload", .serialized)
struct ManagedBatchTests {
    func run(streams: Int, frames: Int, engine: ScriptedEngine?, _ edit: (inout PipelineOptions) -> Void) throws -> (
        RunStats, [String]
    ) {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(
            sources: Array(repeating: TestAssets.video, count: streams), model: TestAssets.detector)
        options.mode = .batched
        options.batchPolicy = .realtime
        options.maxFrames = frames
        options.queueCapacity = 8
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        edit(&options)
        let report = try DetectionPipeline(options: options, engine: engine).runBlocking()
        let lines = try String(contentsOfFile: options.eventsPath!, encoding: .utf8).split(separator: "\n").map(
            String.init)
        return (report.stats, lines)
    }

    /// Every frame of every stream once, in order: processed, or shed with a reason.
    func expectComplete(_ lines: [String], streams: Int, frames: Int) throws {
        struct Line: Decodable {
            var stream: Int
            var frame: Int
            var dropped: String?
        }
        let parsed = try lines.map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        for s in 0..<streams {
            #expect(parsed.filter { $0.stream == s }.map(\.frame) == Array(0..<frames), "stream \(s)")
        }
    }

    @Test("Overload on live streams: the oldest frames are shed, counted, and written as gaps; queues stay bounded")
    func dropOldest() throws {
        // 6 cameras at 10 fps = 60 frames/s; at best 16 / (0.08 + 0.16) = 67 frames/s, not within the margin.
        let engine = ScriptedEngine { b in 0.08 + 0.01 * Double(b) }
        let (stats, lines) = try run(streams: 6, frames: 40, engine: engine) {
            $0.realtime = true
            $0.batchSizes = [1, 4, 16]
        }
        try expectComplete(lines, streams: 6, frames: 40)
        let shed = lines.filter { $0.contains(#""dropped":"drop-oldest""#) }.count
        #expect(shed > 0 && shed == stats.dropped, "\(shed) gap events, \(stats.dropped) counted")
        #expect(stats.streams.map(\.dropped).reduce(0, +) == stats.dropped)
        #expect(stats.frames + stats.dropped == 240)
        #expect(stats.shedPolicy == "drop-oldest")
        #expect(stats.batchDecisions.contains { $0.overloaded }, "\(stats.batchDecisions.map(\.reason))")
        for (name, q) in stats.queues { #expect(q.highWater <= q.capacity, "queue \(name)") }
    }

    @Test("Overload with skip: every k-th frame per stream is skipped, with that reason")
    func skip() throws {
        let engine = ScriptedEngine { b in 0.08 + 0.01 * Double(b) }
        let (stats, lines) = try run(streams: 6, frames: 40, engine: engine) {
            $0.realtime = true
            $0.batchSizes = [1, 4, 16]
            $0.shed = .skip
        }
        try expectComplete(lines, streams: 6, frames: 40)
        #expect(stats.dropped > 0)
        #expect(lines.filter { $0.contains(#""dropped":"skip""#) }.count == stats.dropped)
    }

    @Test("A file run as fast as it goes backlogs: nothing is dropped, however slow the model")
    func backlog() throws {
        let engine = ScriptedEngine { b in 0.01 + 0.002 * Double(b) }
        let (stats, lines) = try run(streams: 2, frames: 60, engine: engine) { _ in }
        #expect(stats.shedPolicy == "backlog")
        #expect(stats.dropped == 0 && stats.frames == 120)
        try expectComplete(lines, streams: 2, frames: 60)
    }

    @Test("--batch auto on the real detector: decisions explained in the stats, every frame accounted for")
    func realDetector() throws {
        let (stats, lines) = try run(streams: 2, frames: 40, engine: nil) { $0.realtime = true }
        try expectComplete(lines, streams: 2, frames: 40)
        // Real time on a slow machine may shed: every frame is written or counted as shed, once.
        #expect(stats.frames + stats.dropped == 80)
        #expect(lines.filter { $0.contains(#""dropped":"#) }.count == stats.dropped)
        #expect(stats.batchPolicy == "realtime")
        #expect(!stats.batchDecisions.isEmpty)
        // Arrival rates: timing is a benchmark (bench/batching.sh), not a test.
        #expect(
            stats.batchDecisions.allSatisfy {
                $0.why.kind != .text && !$0.reason.isEmpty && $0.arrivalRate.isFinite && $0.arrivalRate >= 0
            })
        let plot = try #require(stats.decisionsPlot)
        // Batch size and arrivals, and requests in flight: the controller manages them too here.
        #expect(stats.batchDecisions.allSatisfy { $0.requests != nil })
        #expect(plot.hasPrefix("<svg") && plot.components(separatedBy: "<polyline").count == 4)
    }
}

@Suite("Live-load schedule", .serialized)
struct ScheduleTests {
    @Test("A stream that joins late and leaves early delivers only its window, in order, and the rest is untouched")
    func joinAndLeave() throws {
        let engine = ScriptedEngine { b in 0.002 * Double(b) }
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(sources: [TestAssets.video, TestAssets.video], model: "-")
        options.mode = .batched
        options.batchPolicy = .realtime
        options.realtime = true
        options.maxFrames = 30
        // Backlog: a slow machine delays frames instead of shedding them.
        options.shed = .backlog
        options.schedule = [1: (join: 1.0, leave: 2.0)]
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        let report = try DetectionPipeline(options: options, engine: engine).runBlocking()
        let events = try readEvents(options.eventsPath!)
        #expect(events.filter { $0.stream == 0 }.map(\.frame) == Array(0..<30))
        let late = events.filter { $0.stream == 1 }.map(\.frame)
        // Joined at 1 s, left at 2 s: part of the clip, from its first frame. How many frames that is
        // depends on the machine's speed: timing is a benchmark (bench/batching.sh), not a test.
        #expect(!late.isEmpty && late.count < 30, "\(late.count) frames")
        #expect(late == Array(0..<late.count))
        #expect(report.stats.streams[1].frames == late.count)
        let bad = PipelineOptions(sources: [TestAssets.video], model: "-")
        var wrong = bad
        wrong.schedule = [3: (join: 1, leave: nil)]
        #expect(throws: PipelineError.self) { try wrong.validate() }
    }
}
