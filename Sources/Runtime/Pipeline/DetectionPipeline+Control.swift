import Batching
import Core
import Foundation
import InferenceBackend
import InferenceEngine
import Logging
import ModelRegistry
import ModelServing
import Monitoring
import Synchronization
import VideoIO
import Vision

/// What the control plane asks of a running pipeline: how it batches, steering that, and
/// inference requests that join the streams' batches.
extension DetectionPipeline {
    /// How the pipeline batches now.
    public struct BatchingStatus: Sendable, Encodable {
        public var policy: String
        public var sizes: [Int]
        public var batchSize: Int
        public var requestsInFlight: Int
        public var streams: Int
        public var decisionCount: Int
        /// The latest decisions, oldest first, with their reasons.
        public var decisions: [BatchDecision]
        /// Milliseconds per batch of each stage, by batch size, as measured (the profiler's table).
        public var costsMs: [String: [String: Double]]
        /// The p99 latency target, seconds.
        public var latencySLO: Double
        /// What it can still take, in detector frames a second (the fleet places cameras by it).
        public var capacity: Capacity

        enum CodingKeys: String, CodingKey {
            case policy, sizes, streams, decisions
            case costsMs = "stage_ms_per_batch"
            case latencySLO = "latency_slo_s"
            case batchSize = "batch_size"
            case requestsInFlight = "requests_in_flight"
            case decisionCount = "decision_count"
            case capacity
        }
    }

    /// How the pipeline batches now (the last `keep` decisions).
    public func batching(keep: Int = 20) -> BatchingStatus {
        let manager = batcher
        var costs: [String: [String: Double]] = [:]
        for (size, stages) in manager?.costs ?? [:] {
            costs[String(size)] = Dictionary(uniqueKeysWithValues: stages.map { ($0.key.rawValue, $0.value * 1000) })
        }
        return BatchingStatus(
            policy: (manager?.policy ?? options.batchPolicy).rawValue,
            sizes: options.batchPolicy == .fixed ? [currentBatchSize] : options.batchSizes, batchSize: currentBatchSize,
            requestsInFlight: settings.withLock { $0.requests }, streams: manager?.streams ?? 0,
            decisionCount: manager?.decisionCount ?? 0, decisions: Array((manager?.decisions ?? []).suffix(keep)),
            costsMs: costs, latencySLO: settings.withLock { $0.latencySLO },
            capacity: manager?.capacity ?? Capacity(costs: [:], served: 0))
    }

    /// Changes how batches are sized while running: a policy the manager follows, or `fixed` at
    /// `size` (one of the sizes compiled at the start, so that no change stalls a stream), and the
    /// latency target.
    public func reconfigure(policy: BatchPolicy, size: Int?, latencySLO slo: Double?) throws(PipelineError) {
        guard let manager = batcher else {
            throw PipelineError("this pipeline's batch size is fixed at start (--batch N): nothing to steer")
        }
        if let slo, !(slo > 0 && slo <= 60) { throw PipelineError("the latency SLO must be within (0, 60] seconds") }
        if policy == .fixed {
            guard let size, options.batchSizes.contains(size) else {
                throw PipelineError(
                    "a fixed batch size must be one of \(options.batchSizes.map(String.init).joined(separator: ", "))")
            }
            use(batchSize: size)
        }
        manager.reconfigure(policy: policy, latencySLO: slo)
        if let slo { settings.withLock { $0.latencySLO = slo } }
    }

    /// Runs `inputs` (each one frame laid out as the model takes it: `bytesPerInput` bytes) through
    /// the batcher with the streams' frames, and returns each one's raw outputs by role. Throws
    /// `notReady` when the pipeline is not running, `busy` when too many requests wait, and
    /// `failed` when no answer came within `timeout` seconds.
    public func infer(_ inputs: [[UInt8]], timeout: Double = 30) async throws -> [[String: FloatTensor]] {
        guard let runtime else {
            throw PipelineError(.notReady, "the pipeline for \(options.model) is not running")
        }
        let tickets = inputs.map { _ in InferenceTicket() }
        for (bytes, ticket) in zip(inputs, tickets) {
            let now = Clock.now
            let frame = ReadyFrame(
                source: SourceFrame(
                    stream: -1, frame: VideoFrame(index: 0, pts: 0, width: 0, height: 0, pixels: []), decodeSeconds: 0,
                    arrival: now),
                input: bytes, preprocessSeconds: 0, ticket: ticket)
            guard runtime.submit(frame) else {
                counters.request(succeeded: false)
                for t in tickets { t.fail(PipelineError(.busy, "too many inference requests waiting")) }
                throw PipelineError(.busy, "too many inference requests waiting; try again")
            }
        }
        // Never left hanging: past the time-out each ticket fails (a ticket answered first ignores it).
        let watchdog = Task.detached {
            try await Task.sleep(for: .seconds(timeout))
            for t in tickets { t.fail(PipelineError(.failed, "no answer within \(timeout) s")) }
        }
        defer { watchdog.cancel() }
        var outputs: [[String: FloatTensor]] = []
        for ticket in tickets { outputs.append(try await ticket.outputs()) }
        return outputs
    }
}
