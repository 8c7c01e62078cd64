import Batching
import Core
import Foundation
import ModelRegistry
import ModelServing
import Monitoring
import Runtime
import Synchronization
import TestSupport
import Testing
import Tools

extension TemporaryRepository {
    /// vtest.avi paced at 10 fps for `frames` frames (nil: the clip replayed until the test that
    /// stops the run itself once it is done), serving `version` of `model`, with a control socket and
    /// events in `dir`. Backlog: a slow machine delays frames instead of shedding them, so that every
    /// frame's fate is the swaps' alone.
    static func realtimeOptions(_ model: String, version: Int, frames: Int?, in dir: URL) -> PipelineOptions {
        var options = PipelineOptions(source: TestAssets.video, model: model)
        options.modelVersion = version
        options.realtime = true
        options.maxFrames = frames
        // Without a frame count, the clip replays until the test stops the run: however long the
        // swaps take on a slow machine, the run outlasts them.
        options.loop = frames == nil
        options.shed = .backlog
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        return options
    }
}

/// Starts `pipeline` on its own threads and waits until its model manager is up.
func startRun(_ pipeline: DetectionPipeline) async throws -> (Task<RunReport, any Error>, ModelManager) {
    let task = Task { try await pipeline.run() }
    for _ in 0..<600 {
        if let models = pipeline.models { return (task, models) }
        try await Task.sleep(for: .milliseconds(50))
    }
    task.cancel()
    throw PipelineError("the run did not get its model ready in 30 s")
}

func classifierFolder() -> String { TestAssets.root.appendingPathComponent("models/ppocr-cls/1").path }

@Suite("Model swaps on a running pipeline", .serialized)
struct ModelSwapTests {
    @Test(
        "Real time, 6 swaps between two versions of the detector: every frame answered once, by one version; one switch per swap"
    )
    func sixSwaps() async throws {
        let repo = TemporaryRepository(name: "pedestrian")
        defer { repo.remove() }
        try repo.add(1, from: TestAssets.detector)
        try repo.add(2, from: TestAssets.detector)
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The clip replayed, stopped once the swaps are done: however long they take, the run outlasts them.
        let options = TemporaryRepository.realtimeOptions(repo.folder, version: 1, frames: nil, in: dir)
        let pipeline = DetectionPipeline(options: options)
        defer { pipeline.stop() }
        let (task, models) = try await startRun(pipeline)
        var version = 1
        for _ in 0..<6 {
            version = 3 - version
            // The control socket asks the same (ServiceTests.ControlSocketTests drive it).
            let record = try await models.activate(version)
            #expect(record.outcome == .swapped, "\(record)")
        }
        // Frames already read go through: the last swap's first batch is answered too.
        pipeline.stop()
        let report = try await task.value
        let events = try readEvents(options.eventsPath!)
        #expect(!events.isEmpty && events.count == report.stats.frames)
        #expect(events.map(\.frame) == Array(0..<events.count), "every frame once, in order, none dropped")
        let tags = events.map(\.model)
        #expect(Set(tags) == ["pedestrian@1", "pedestrian@2"])
        let switches = zip(tags, tags.dropFirst()).filter { $0 != $1 }.count
        #expect(switches == 6, "one switch point per swap")
        let swaps = report.stats.modelSwaps
        #expect(swaps.count == 6 && swaps.allSatisfy { $0.outcome == .swapped })
        // Lag through the swaps: timing is a benchmark (bench/swap.sh), not a test.
        #expect(report.stats.dropped == 0)
        // The timeline accounts for every frame, and the plot marks the 6 switch points.
        let counted = report.stats.timeline.map { $0.fps * $0.width }.reduce(0, +)
        #expect(abs(counted - Double(events.count)) < 0.5, "timeline counts \(counted) frames")
        let plot = try #require(report.stats.timelinePlot)
        #expect(plot.contains("model swap (6, switch points)"))
        for s in swaps {
            print(
                String(
                    format:
                        "swap %d->%d: load %.3f s, compile %.3f s, warm-up %.3f s, request to switch %.3f s, pause %.4f s",
                    s.from, s.to, s.loadSeconds ?? 0, s.compileSeconds ?? 0, s.warmupSeconds ?? 0, s.totalSeconds ?? 0,
                    s.pauseSeconds ?? 0))
        }
        print("lag p99 \(report.stats.streams[0].lag.p99Ms) ms, max \(report.stats.streams[0].lag.maxMs) ms")
    }

    @Test(
        "A corrupt version and one whose outputs do not match its sidecar are rejected with the reason; v1 keeps serving"
    )
    func badVersionsRejected() async throws {
        let repo = TemporaryRepository(name: "pedestrian")
        defer { repo.remove() }
        try repo.add(1, from: TestAssets.detector)
        try repo.add(2, from: TestAssets.detector) { dir in
            let file = dir.appendingPathComponent("frozen_inference_graph.pb")
            try Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: file)
        }
        try repo.add(3, from: TestAssets.detector) { dir in
            let sidecar = dir.appendingPathComponent("model.json")
            let text = try String(contentsOf: sidecar, encoding: .utf8)
            try text.replacingOccurrences(of: "\"detection_boxes\"", with: "\"no_such_output\"")
                .write(to: sidecar, atomically: true, encoding: .utf8)
        }
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The clip replayed, stopped once the requests are answered: however long they take, the run outlasts them.
        let options = TemporaryRepository.realtimeOptions(repo.folder, version: 1, frames: nil, in: dir)
        let pipeline = DetectionPipeline(options: options)
        defer { pipeline.stop() }
        let (task, models) = try await startRun(pipeline)

        await #expect {
            try await models.activate(2)
        } throws: { error in
            let message = "\(error)"
            // OpenVINO's own words about the file, not a time-out.
            return message.hasPrefix("version 2 rejected: ") && message.contains("frozen_inference_graph.pb")
        }
        await #expect {
            try await models.activate(3)
        } throws: { error in
            "\(error)".contains("no_such_output")
        }
        #expect(models.status.version == 1)
        await #expect {
            try await models.activate(9)
        } throws: { error in
            "\(error)".contains("no such version")
        }

        pipeline.stop()
        let report = try await task.value
        let events = try readEvents(options.eventsPath!)
        #expect(!events.isEmpty && events.map(\.frame) == Array(0..<events.count))
        #expect(events.allSatisfy { $0.model == "pedestrian@1" })
        #expect(report.stats.modelSwaps.map(\.outcome) == [.rejected, .rejected, .rejected])
        print(report.stats.modelSwaps.compactMap(\.reason).joined(separator: "\n"))
    }

    @Test("50 load-swap-unload cycles: RSS after the last within 10% of RSS after the first")
    func memoryAcrossCycles() async throws {
        let repo = TemporaryRepository(name: "cls")
        defer { repo.remove() }
        try repo.add(1, from: classifierFolder())
        try repo.add(2, from: classifierFolder())
        var options = PipelineOptions(source: TestAssets.video, model: repo.folder)
        options.modelVersion = 1
        options.realtime = true
        options.probationSeconds = 0.05
        options.probationBatches = 1
        let pipeline = DetectionPipeline(options: options)
        let (task, models) = try await startRun(pipeline)
        var afterFirst = 0
        var version = 1
        for cycle in 1...50 {
            version = 3 - version
            let record = try await models.activate(version)
            #expect(record.outcome == .swapped)
            // Unloaded: wait until the old version has drained and been freed.
            try await Task.sleep(for: .milliseconds(200))
            if cycle == 1 { afterFirst = ResourceMonitor.residentBytes() }
        }
        let afterLast = ResourceMonitor.residentBytes()
        pipeline.stop()
        let report = try await task.value
        #expect(report.stats.modelSwaps.count == 50)
        let ratio = Double(afterLast) / Double(afterFirst)
        print(
            String(
                format: "RSS after cycle 1: %.1f MiB, after cycle 50: %.1f MiB (%.3f)",
                Double(afterFirst) / 1_048_576, Double(afterLast) / 1_048_576, ratio))
        #expect(ratio <= 1.10)
    }

    @Test("A version that fails at run time is rolled back by itself; its batch runs again on the old one")
    func rollbackOnRuntimeFailure() async throws {
        var options = PipelineOptions(source: TestAssets.video, model: "-")
        options.realtime = true
        options.maxFrames = 40
        options.probationSeconds = 5
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        let pipeline = DetectionPipeline(
            options: options, engine: ScriptedEngine(tag: "scripted@1") { _ in 0.002 },
            loader: { version in ScriptedEngine(tag: "scripted@\(version)", failsAtRunTime: true) { _ in 0.002 } })
        let (task, models) = try await startRun(pipeline)
        try await Task.sleep(for: .milliseconds(500))
        // It loads and warms up well, so it is swapped in; its first batch may fail before the answer,
        // which then says so.
        do {
            let record = try await models.activate(2)
            #expect(record.outcome == .swapped, "\(record)")
        } catch {
            #expect("\(error)".contains("version 2 rolled-back: "), "\(error)")
        }
        let report = try await task.value
        let events = try readEvents(options.eventsPath!)
        #expect(events.map(\.frame) == Array(0..<40), "no frame lost to the failure")
        #expect(events.allSatisfy { $0.model == "scripted@1" })
        let swap = report.stats.modelSwaps.last
        #expect(swap?.outcome == .rolledBack)
        #expect(swap?.reason?.contains("scripted failure at run time") == true)
        #expect(models.refusedVersions == [2])
    }

    @Test("After a swap nothing keeps the old version: it is freed once its last batch is done")
    func oldVersionFreed() async throws {
        // The clip replayed, stopped once version 1 is gone: the run outlasts the wait, however slow the machine.
        var options = PipelineOptions(source: TestAssets.video, model: "-")
        options.realtime = true
        options.loop = true
        options.probationSeconds = 0.2
        options.probationBatches = 2
        weak var first: ScriptedEngine?
        let pipeline = DetectionPipeline(
            options: options,
            engine: {
                let engine = ScriptedEngine(tag: "scripted@1") { _ in 0.002 }
                first = engine
                return engine
            }(),
            loader: { version in ScriptedEngine(tag: "scripted@\(version)") { _ in 0.002 } })
        defer { pipeline.stop() }
        let (task, models) = try await startRun(pipeline)
        try await Task.sleep(for: .milliseconds(300))
        #expect(first != nil, "serving")
        #expect(try await models.activate(2).outcome == .swapped)
        // Probation, then a few batches: waited for, not timed (60 s only against a hang).
        let swapped = Clock.now
        while first != nil && Clock.now - swapped < 60 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(first == nil, "version 1 is still held after its probation ended")
        pipeline.stop()
        _ = try await task.value
    }

    @Test("With --batch auto, a slower version swapped in is measured afresh and the batch size follows it")
    func batchSizeFollowsSwap() async throws {
        var options = PipelineOptions(sources: [TestAssets.video, TestAssets.video], model: "-")
        options.mode = .batched
        options.batchPolicy = .realtime
        options.realtime = true
        options.maxFrames = 90
        options.shed = .backlog
        options.probationSeconds = 0.3
        // Version 1 keeps up with 20 frames/s at B=1; version 2 has a 70 ms fixed cost per batch, so
        // B=1 (14 frames/s) cannot, and a batch of 2 or more must be used.
        let pipeline = DetectionPipeline(
            options: options, engine: ScriptedEngine(tag: "scripted@1") { b in 0.004 * Double(b) },
            loader: { version in ScriptedEngine(tag: "scripted@\(version)") { b in 0.07 + 0.002 * Double(b) } })
        let (task, models) = try await startRun(pipeline)
        try await Task.sleep(for: .seconds(2))
        #expect(try await models.activate(2).outcome == .swapped)
        let report = try await task.value
        let decisions = report.stats.batchDecisions
        let change = try #require(decisions.firstIndex { $0.why == .modelChanged(tag: "scripted@2") })
        let after = decisions[(change + 1)...]
        // Version 2's fixed cost per batch makes larger batches pay; version 1's did not.
        #expect((after.last?.to ?? 0) >= 4, "\(decisions.map(\.reason))")
        #expect(report.stats.frames == 180 && report.stats.dropped == 0)
    }

    @Test(
        "A new version is picked up once completely copied, never half-copied; a swap past the memory limit is refused")
    func watchAndMemory() async throws {
        let repo = TemporaryRepository(name: "cls")
        defer { repo.remove() }
        try repo.add(1, from: classifierFolder())
        // The clip replayed, backlogged, stopped once the new version serves: the run outlasts the
        // pick-up however slow the machine, and every frame is answered.
        var options = PipelineOptions(source: TestAssets.video, model: repo.folder)
        options.realtime = true
        options.loop = true
        options.shed = .backlog
        options.watchInterval = 0.2
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        let pipeline = DetectionPipeline(options: options)
        defer { pipeline.stop() }
        let (task, models) = try await startRun(pipeline)
        // Half-copied: the sidecar is there, the model file not yet.
        let target = repo.root.appendingPathComponent("cls/2")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: classifierFolder() + "/model.json"),
            to: target.appendingPathComponent("model.json"))
        try await Task.sleep(for: .seconds(2))
        #expect(models.status.version == 1, "a half-copied version is not picked up")
        let copied = Clock.now
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: classifierFolder() + "/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
            to: target.appendingPathComponent("ch_ppocr_mobile_v2.0_cls_infer.onnx"))
        // Waited for, not timed (60 s only against a hang).
        while models.status.version != 2 && Clock.now - copied < 60 {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(models.status.version == 2, "picked up once completely copied")
        // Frames already read go through: the first batch on version 2 is answered too.
        pipeline.stop()
        _ = try await task.value
        let events = try readEvents(options.eventsPath!)
        #expect(events.map(\.frame) == Array(0..<events.count))
        #expect(events.first?.model == "cls@1" && events.last?.model == "cls@2")
        #expect(models.records.first?.trigger == "watch")

        // The same repository under a memory limit a second version cannot fit.
        var tight = options
        tight.modelVersion = 1
        tight.memoryLimit = 64 << 20
        let limitedPipeline = DetectionPipeline(options: tight)
        defer { limitedPipeline.stop() }
        let (run, limited) = try await startRun(limitedPipeline)
        await #expect {
            try await limited.activate(2)
        } throws: { error in
            "\(error)".contains("version 2 refused: a second version needs about")
        }
        #expect(limited.status.version == 1)
        limitedPipeline.stop()
        _ = try await run.value
    }
}
