import Core
import Foundation
import Monitoring
import Runtime
import TestSupport
import Testing
import VideoIO

@testable import Runtime

@Suite("Pipeline behaviour", .serialized)
struct PipelineBehaviourTests {
    func sidecarDir(_ edit: (String) -> String) throws -> URL {
        let dir = TestAssets.temporaryDirectory()
        let text = try String(contentsOfFile: TestAssets.detector + "/model.json", encoding: .utf8)
        try edit(text).write(toFile: dir.appendingPathComponent("model.json").path, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: dir.appendingPathComponent("frozen_inference_graph.pb").path,
            withDestinationPath: TestAssets.detectorFile)
        return dir
    }

    /// Sidecar edits the model contradicts, and what the refusal must say.
    static let mismatches: [(from: String, to: String, says: String)] = [
        ("\"image_tensor\"", "\"pixels\"", "does not match its sidecar: no input \"pixels\""),
        ("\"detection_scores\"", "\"confidences\"", "no output \"confidences\""),
        ("\"u8\"", "\"f32\"", "input image_tensor:0 is u8, sidecar says f32"),
        ("\"NHWC\"", "\"NCHW\"", "has shape [?,?,?,3], sidecar wants NCHW 300x300x3"),
    ]

    @Test("A sidecar the model contradicts is refused before decoding", arguments: mismatches)
    func sidecarMismatch(_ edit: (from: String, to: String, says: String)) async throws {
        let dir = try sidecarDir { $0.replacingOccurrences(of: edit.from, with: edit.to) }
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = PipelineOptions(source: TestAssets.video, model: dir.path)
        await #expect {
            _ = try await DetectionPipeline(options: options).run()
        } throws: { error in
            "\(error)".contains(edit.says)
        }
    }

    @Test("Batch size 0 and absurd sizes are refused", arguments: [0, -3, 100_000])
    func badBatch(_ batch: Int) async {
        var options = PipelineOptions(source: TestAssets.video, model: TestAssets.detector)
        options.batchSize = batch
        await #expect {
            _ = try await DetectionPipeline(options: options).run()
        } throws: { error in
            "\(error)".contains("batch size \(batch) is out of range")
        }
    }

    @Test("Batch 4 runs [4,...] tensors, flushes the partial last batch (padded), and keeps every frame in order")
    func batched() async throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = PipelineOptions(source: TestAssets.video, model: TestAssets.detector)
        options.mode = .batched
        options.batchSize = 4
        options.maxFrames = 30
        // A batch waits for its 4 frames however slow the decoder is (a loaded machine): only the
        // end of the source flushes a partial one.
        options.batchTimeout = 60
        options.eventsPath = dir.appendingPathComponent("events.jsonl").path
        let report = try await DetectionPipeline(options: options).run()
        #expect(report.stats.batchSizes == ["4": 7, "2": 1])
        let events = try readEvents(options.eventsPath!)
        #expect(events.map(\.frame) == Array(0..<30))
        #expect(events.prefix(28).allSatisfy { $0.batch == 4 } && events.suffix(2).allSatisfy { $0.batch == 2 })
        // Same detections as one at a time, up to float rounding in the batched kernels (and the
        // reference's bf16 against this CPU's f32: see AccuracyTests).
        let reference = try loadReference()
        let score = f1Score(reference: Array(reference.prefix(30)), ours: events.map(\.asDetections))
        #expect(score.f1 >= 0.96)
    }
}

@Suite("Pacing")
struct PacingTests {
    @Test("--realtime paces a 10 fps file as a live source, every frame kept")
    func realtime() async throws {
        var options = PipelineOptions(source: TestAssets.video, model: TestAssets.detector)
        options.realtime = true
        options.maxFrames = 16
        let report = try await DetectionPipeline(options: options).run()
        // 16 frames fit the 16-frame queue: none can be shed, however slow the machine.
        #expect(report.stats.frames == 16 && report.stats.dropped == 0)
        // Paced, it is treated as a live source (it would shed rather than fall behind).
        #expect(report.stats.shedPolicy == "drop-oldest")
        // Timing is a benchmark (bench/batching.sh), not a test.
    }
}

@Suite("Bounded queue")
struct BoundedQueueTests {
    @Test("A full queue blocks its producer until the consumer makes room, and never exceeds its bound")
    func backPressure() {
        let queue = BoundedQueue<Int>(capacity: 3)
        let producer = Thread {
            for i in 0..<50 { queue.push(i) }
            queue.close()
        }
        producer.start()
        // The producer fills the queue to its bound and blocks there before anything is taken.
        let deadline = Clock.now + 60
        while queue.depth.now < 3 && Clock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        var got: [Int] = []
        while let v = queue.pop() {
            got.append(v)
            if got.count % 10 == 0 { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(got == Array(0..<50))
        #expect(queue.depth.highWater == 3)
    }

    @Test("close() refuses pushes and lets pops drain, then end")
    func closing() {
        let queue = BoundedQueue<Int>(capacity: 2)
        #expect(queue.push(1))
        queue.close()
        #expect(!queue.push(2))
        #expect(queue.pop() == 1)
        #expect(queue.pop() == nil)
    }

    @Test("A timed pop on an empty queue times out, and the queue still works after it")
    func timedPop() {
        let queue = BoundedQueue<Int>(capacity: 1)
        guard case .timedOut = queue.pop(until: Clock.now + 0.05) else {
            Issue.record("expected a time-out")
            return
        }
        // Timing is a benchmark, not a test: what counts is the outcome, and that nothing was lost.
        #expect(queue.depth.now == 0)
        #expect(queue.push(7))
        guard case .element(let v) = queue.pop(until: Clock.now + 60) else {
            Issue.record("expected the element pushed")
            return
        }
        #expect(v == 7)
    }
}
