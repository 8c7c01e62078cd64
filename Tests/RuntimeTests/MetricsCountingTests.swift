import Analytics
import Batching
import CoreMetrics
import Foundation
import MetricsTestKit
import ModelServing
import Runtime
import TestSupport
import Testing

@testable import Runtime

/// The metrics are told, not polled: swift-metrics objects counted where things happen, seen here
/// through MetricsTestKit's factory, each test with its own (no global bootstrap). Counts only: timing
/// is a benchmark, not a test.
@Suite("Metrics counted at the event", .serialized)
struct MetricsCountingTests {
    /// A service-like pipeline (streams attach while it runs) on the scripted engine, counting into `metrics`.
    func servicePipeline(_ metrics: TestMetrics, policy: BatchPolicy = .fixed) -> DetectionPipeline {
        var options = PipelineOptions(sources: [], model: "-")
        options.keepOpen = true
        options.mode = .batched
        options.batchPolicy = policy
        options.batchSizes = [1, 2, 4]
        options.batchSize = 4
        return DetectionPipeline(
            options: options, engine: ScriptedEngine(tag: "scripted@1") { _ in 0.001 },
            loader: { version in ScriptedEngine(tag: "scripted@\(version)") { _ in 0.001 } }, metrics: metrics)
    }

    @Test(
        "The bundled clip through the scripted engine: the stream's frames counter is the frames written, each lag recorded, none shed; the model's inputs and batches counted; its series go when the stream does"
    )
    func framesCounted() async throws {
        let metrics = TestMetrics()
        let pipeline = servicePipeline(metrics)
        let run = Task { try await pipeline.run() }
        defer { pipeline.stop() }
        try #require(await pipeline.waitUntilReady() == true)
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("north.jsonl").path
        let handle = try pipeline.attach(
            id: "north", source: TestAssets.video, model: "scripted", loop: false, realtime: false, eventsPath: events)
        let stream = [("stream", "north")]
        #expect((try? metrics.expectCounter("batchline_frames_total", stream)) != nil, "made when the stream is")
        try #require(await handle.waitUntilComplete(timeout: .seconds(300)))

        let written = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").count
        #expect(written == 795, "every frame of the clip, none shed (backlog)")
        #expect(handle.info.frames == written)
        #expect(try metrics.expectCounter("batchline_frames_total", stream).totalValue == Int64(written))
        #expect(try metrics.expectCounter("batchline_frames_dropped_total", stream).totalValue == 0)
        #expect(try metrics.expectCounter("batchline_stream_reconnects_total", stream).totalValue == 0)
        #expect(try metrics.expectTimer("batchline_stream_lag_seconds", stream).values.count == written)
        #expect(try metrics.expectGauge("batchline_stream_up", stream).values.contains(1))
        #expect(try metrics.expectGauge("batchline_stream_up", stream).lastValue == 0, "ended")

        let model = [("model", "scripted@1"), ("version", "1")]
        let counts = pipeline.counters.value
        #expect(try metrics.expectCounter("nv_inference_count", model).totalValue == Int64(written))
        #expect(try metrics.expectCounter("nv_inference_exec_count", model).totalValue == Int64(counts.executionCount))
        #expect(counts.executionCount >= written / 4)
        #expect(try metrics.expectCounter("nv_inference_request_success", model).totalValue == 0)
        #expect(try metrics.expectGauge("batchline_batch_size", [("model", "scripted@1")]).lastValue == 4)

        // Removed: the stream's series go; the model's stay.
        handle.destroyMetrics()
        #expect(throws: (any Error).self) { try metrics.expectCounter("batchline_frames_total", stream) }
        #expect(throws: (any Error).self) { try metrics.expectTimer("batchline_stream_lag_seconds", stream) }
        #expect(throws: (any Error).self) { try metrics.expectGauge("batchline_stream_up", stream) }
        #expect(try metrics.expectCounter("nv_inference_count", model).totalValue == Int64(written))
        pipeline.stop()
        _ = try await run.value
    }

    @Test("A reconnect is counted when the stream's source comes back; `up` follows the phase")
    func reconnectsCounted() throws {
        let metrics = TestMetrics()
        let handle = StreamHandle(id: "gate", number: 0, source: "rtsp://camera/gate", model: "m", metrics: metrics)
        let stream = [("stream", "gate")]
        handle.update(phase: .running, reconnects: 0, lastError: nil)
        handle.update(phase: .reconnecting, reconnects: 0, lastError: "the source ended")
        handle.update(phase: .running, reconnects: 1, lastError: "the source ended")
        handle.update(phase: .reconnecting, reconnects: 1, lastError: "timed out")
        handle.update(phase: .running, reconnects: 2, lastError: "timed out")
        #expect(try metrics.expectCounter("batchline_stream_reconnects_total", stream).totalValue == 2)
        #expect(try metrics.expectGauge("batchline_stream_up", stream).values == [0, 1, 0, 1, 0, 1])
        handle.shed()
        #expect(try metrics.expectCounter("batchline_frames_dropped_total", stream).totalValue == 1)
    }

    @Test(
        "A swap is counted by its outcomes as its record gets them (staged, then swapped); a stream joining is a decision counted"
    )
    func swapsAndDecisionsCounted() async throws {
        let metrics = TestMetrics()
        let pipeline = servicePipeline(metrics, policy: .realtime)
        let run = Task { try await pipeline.run() }
        defer { pipeline.stop() }
        try #require(await pipeline.waitUntilReady() == true)
        let models = try #require(pipeline.models)
        // The clip replayed, so that batches run (a swap switches at a batch boundary) until the test stops it.
        let handle = try pipeline.attach(
            id: "south", source: TestAssets.video, model: "scripted", loop: true, realtime: true, eventsPath: nil)
        let record = try await models.activate(2)
        #expect(record.outcome == .swapped)
        let swaps = { (outcome: String) in
            try metrics.expectCounter(
                "batchline_model_swaps_total", [("model", "scripted@1"), ("outcome", outcome)]
            ).totalValue
        }
        #expect(try swaps("staged") == 1)
        #expect(try swaps("swapped") == 1)
        #expect(try swaps("rejected") == 0)
        handle.stop()
        #expect(await handle.waitUntilComplete(timeout: .seconds(60)))
        // Joined, the model changed, left, and whatever the controller decided: each one recorded, counted.
        let decisions = try metrics.expectCounter("batchline_batch_decisions_total", [("model", "scripted@1")])
        #expect(decisions.totalValue == Int64(pipeline.batching().decisionCount))
        #expect(decisions.totalValue >= 3)
        pipeline.stop()
        _ = try await run.value
    }
}

extension MetricsCountingTests {
    @Test(
        "A tracked stream with a line and a zone on the real detector: batchline_line_crossings_total by direction equals the crossings its events say, batchline_zone_occupancy follows the zone"
    )
    func analyticsCounted() async throws {
        let metrics = TestMetrics()
        var options = PipelineOptions(sources: [], model: TestAssets.detector)
        options.keepOpen = true
        options.mode = .batched
        options.batchSize = 4
        let pipeline = DetectionPipeline(options: options, metrics: metrics)
        let run = Task { try await pipeline.run() }
        defer { pipeline.stop() }
        try #require(await pipeline.waitUntilReady() == true)
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("gate.jsonl").path
        var tracking = TrackingSettings()
        tracking.analytics = AnalyticsSpec(
            lines: [LineSpec(name: "mid", from: Point(384, 150), to: Point(384, 576))],
            zones: [
                ZoneSpec(name: "plaza", points: [Point(100, 300), Point(700, 300), Point(700, 570), Point(100, 570)])
            ])
        let handle = try pipeline.attach(
            id: "gate", source: TestAssets.video, model: "detector", loop: false, realtime: false, eventsPath: events,
            tracking: tracking)
        try #require(await handle.waitUntilComplete(timeout: .seconds(300)))
        let told = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").flatMap { line in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["events"]
                as? [[String: Any]]
                ?? []
        }
        for direction in ["in", "out"] {
            let said = told.filter {
                $0["type"] as? String == "line_crossed" && $0["direction"] as? String == direction
            }
            let counter = try metrics.expectCounter(
                "batchline_line_crossings_total", [("stream", "gate"), ("line", "mid"), ("direction", direction)])
            #expect(counter.totalValue == Int64(said.count) && !said.isEmpty, "\(direction)")
        }
        let entered = told.filter { $0["type"] as? String == "zone_entered" }.count
        let left = told.filter { $0["type"] as? String == "zone_left" }.count
        let occupancy = try metrics.expectGauge("batchline_zone_occupancy", [("stream", "gate"), ("zone", "plaza")])
        #expect(entered > 0 && occupancy.lastValue == Double(entered - left))
        #expect(handle.analytics.lines.first.map { $0.in + $0.out } == told.filter { $0["line"] != nil }.count)
        pipeline.stop()
        _ = try await run.value
    }
}
