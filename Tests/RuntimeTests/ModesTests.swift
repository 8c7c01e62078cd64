import Foundation
import InferenceEngine
import Monitoring
import Runtime
import TestSupport
import Testing
import Tools

@testable import Runtime

@Suite("Modes, batching and several sources", .serialized)
struct ModesTests {
    func run(_ edit: (inout PipelineOptions) -> Void, engine: (any InferenceEngine)? = nil, sources: Int = 1) throws
        -> (
            RunReport, [EventLine]
        )
    {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(
            sources: Array(repeating: TestAssets.video, count: sources), model: TestAssets.detector)
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        edit(&options)
        let report = try DetectionPipeline(options: options, engine: engine).runBlocking()
        return (report, try readEvents(options.eventsPath!))
    }

    @Test("Sequential, pipelined and batched give identical detections, frame by frame")
    func modesAgree() throws {
        let (_, sequential) = try run {
            $0.mode = .sequential
            $0.maxFrames = 48
        }
        let (_, pipelined) = try run {
            $0.mode = .pipelined
            $0.maxFrames = 48
        }
        let (report, batched) = try run {
            $0.mode = .batched
            $0.batchSize = 4
            $0.maxFrames = 48
            // Batches wait for their 4 frames however slow the decoder is (a loaded machine).
            $0.batchTimeout = 60
        }
        #expect(report.stats.batchSizes == ["4": 12])
        #expect(sequential.count == 48 && pipelined.count == 48 && batched.count == 48)
        let detections = sequential.map(\.asDetections)
        #expect(detections.reduce(0) { $0 + $1.count } > 50, "the clip has people in every frame")
        #expect(pipelined.map(\.asDetections) == detections)
        #expect(batched.map(\.asDetections) == detections)
        #expect(sequential.map(\.frame) == Array(0..<48) && batched.map(\.frame) == Array(0..<48))
    }

    @Test("Changing B while running loses, duplicates or reorders no frame")
    func changingBatchSize() throws {
        let engine = ScriptedEngine { b in 0.002 + 0.001 * Double(b) }
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(source: TestAssets.video, model: "-")
        options.mode = .batched
        options.batchSize = 2
        options.maxFrames = 300
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        let pipeline = DetectionPipeline(options: options, engine: engine)
        let done = DispatchSemaphore(value: 0)
        let changer = Thread {
            let sizes = [1, 3, 8, 5, 2, 7, 4]
            var i = 0
            while done.wait(timeout: .now() + .milliseconds(40)) == .timedOut {
                try? pipeline.setBatchSize(sizes[i % sizes.count])
                i += 1
            }
        }
        changer.start()
        let report = try pipeline.runBlocking()
        done.signal()
        let events = try readEvents(options.eventsPath!)
        #expect(events.map(\.frame) == Array(0..<300))
        #expect(report.stats.frames == 300)
        let used = Set(engine.batchesRun)
        #expect(used.count >= 3, "batch sizes used: \(used)")
        // Every event's batch field is the size of the batch it ran in: sizes add up to the frames.
        #expect(report.stats.batchSizes.reduce(0) { $0 + Int($1.key)! * $1.value } >= 300)
    }

    @Test("A slow inference stage: no queue passes its bound, memory stays flat, nothing is lost")
    func slowStage() throws {
        let engine = ScriptedEngine { b in 0.03 * Double(b) }
        let monitor = ResourceMonitor(interval: 0.1)
        monitor.start()
        let (report, events) = try run(
            {
                $0.mode = .batched
                $0.batchSize = 2
                $0.maxFrames = 120
                $0.queueCapacity = 8
            }, engine: engine)
        let samples = monitor.stop()
        #expect(events.map(\.frame) == Array(0..<120))
        for (name, q) in report.stats.queues {
            #expect(q.highWater <= q.capacity, "queue \(name): \(q.highWater) > \(q.capacity)")
        }
        // The decoder outruns inference 10-fold: its queue fills to the bound and stays there.
        #expect(report.stats.queues["decoded"]?.highWater == 8)
        let rss = samples.map(\.rssBytes)
        #expect(rss.count >= 10)
        let early = rss.prefix(rss.count / 2).max() ?? 0
        let late = rss.suffix(rss.count / 2).max() ?? 0
        #expect(late - early < 24 << 20, "RSS grew from \(early >> 20) MiB to \(late >> 20) MiB")
    }

    @Test("Several sources: every frame of every stream once, in order per stream")
    func severalSources() throws {
        let engine = ScriptedEngine { b in 0.001 * Double(b) }
        let (report, events) = try run(
            {
                $0.mode = .batched
                $0.batchSize = 4
                $0.maxFrames = 40
            }, engine: engine, sources: 3)
        #expect(events.count == 120)
        for stream in 0..<3 {
            #expect(events.filter { $0.stream == stream }.map(\.frame) == Array(0..<40), "stream \(stream)")
        }
        #expect(Set(events.map(\.stream)) == [0, 1, 2])
        #expect(report.stats.streams.count == 3)
        #expect(report.stats.streams.allSatisfy { $0.frames == 40 && $0.fps > 0 && $0.lag.count == 40 })
    }
}

@Suite("Profiler", .serialized)
struct ProfilerTests {
    @Test("Every row and column, positive and self-consistent numbers, files and plots written")
    func profile() throws {
        var options = ProfileOptions(model: TestAssets.detector, source: TestAssets.video)
        options.batches = [1, 2, 4]
        options.frames = 24
        options.fps = 10
        let report = try Profiler(options: options).measureBlocking()
        #expect(report.rows.map(\.batch) == [1, 2, 4])
        for row in report.rows {
            #expect(row.frames == 24)
            #expect(row.decodeSeconds > 0 && row.preprocessSeconds > 0 && row.inferenceSeconds > 0)
            #expect(row.postprocessSeconds > 0 && row.throughput > 0 && row.cpuPercent > 0 && row.peakRSSBytes > 0)
            #expect(abs(row.realtimeSeconds - Double(row.batch) / 10) < 1e-9)
            #expect(row.meetsRealtime == (row.bottleneckSeconds <= row.realtimeSeconds))
            // Throughput against the bottleneck's pace is a benchmark (bench/throughput.sh); here the
            // bottleneck is one of the stages, and the slowest of them as the profiler overlaps them.
            #expect(["decode", "preprocess", "inference", "postprocess"].contains(row.bottleneck), "row \(row)")
            // Which stage it is follows from the row's own figures (no measured time is bounded here).
            let effective: [String: Double] = [
                "decode": row.decodeSeconds, "preprocess": row.preprocessSeconds / Double(options.preprocessWorkers),
                "inference": row.inferenceSeconds / Double(options.requests), "postprocess": row.postprocessSeconds,
            ]
            #expect(row.bottleneckSeconds == effective[row.bottleneck], "row \(row)")
            #expect(effective.values.max() == row.bottleneckSeconds, "row \(row)")
        }
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try report.write(to: dir.path)
        let md = try String(contentsOf: dir.appendingPathComponent("profile.md"), encoding: .utf8)
        for label in [
            "pre-processing", "inference", "post-processing", "real-time condition", "throughput", "CPU", "peak RSS",
        ] {
            #expect(md.contains("| \(label)"), "profile.md lacks \(label)")
        }
        let stages = try String(contentsOf: dir.appendingPathComponent("stages.svg"), encoding: .utf8)
        #expect(stages.components(separatedBy: "<polyline").count - 1 == 5)
        let resources = try String(contentsOf: dir.appendingPathComponent("resources.svg"), encoding: .utf8)
        #expect(resources.hasPrefix("<svg") && resources.contains("Throughput"))
        let json = try JSONDecoder().decode(
            ProfileReport.self, from: Data(contentsOf: dir.appendingPathComponent("profile.json")))
        #expect(json.rows.count == 3)
    }
}

@Suite("Batch-friendly classifier", .serialized)
struct ClassifierTests {
    @Test(
        "The PaddleOCR direction classifier runs through the same pipeline, batched or not, with one result per frame")
    func classifier() throws {
        let model = TestAssets.root.appendingPathComponent("models/ppocr-cls/1").path
        func run(_ batch: Int) throws -> [EventLine] {
            let dir = TestAssets.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            var options = PipelineOptions(source: TestAssets.video, model: model)
            options.mode = .batched
            options.batchSize = batch
            options.maxFrames = 64
            options.eventsPath = dir.appendingPathComponent("events.jsonl").path
            _ = try DetectionPipeline(options: options).runBlocking()
            return try readEvents(options.eventsPath!)
        }
        let one = try run(1)
        let eight = try run(8)
        #expect(one.count == 64 && eight.count == 64)
        #expect(one.allSatisfy { $0.detections.count == 1 && ["0", "180"].contains($0.detections[0].label) })
        #expect(eight.allSatisfy { $0.batch == 8 })
        for (a, b) in zip(one, eight) {
            #expect(a.detections[0].label == b.detections[0].label)
            #expect(abs(a.detections[0].score - b.detections[0].score) < 1e-3)
        }
    }
}
