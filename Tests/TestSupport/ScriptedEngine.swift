import Core
import Foundation
import InferenceBackend
import InferenceEngine
import Vision

/// A stand-in engine whose batches take a scripted time and find nothing: the pipeline's scheduling,
/// bounds and ordering under any cost, with no model. Batches run one at a time, like one device.
///
/// `@unchecked Sendable`: its only shared state, `busyUntil`, is guarded by `lock`.
public final class ScriptedEngine: InferenceEngine, @unchecked Sendable {
    /// `scripted@1` unless given.
    public let tag: String
    /// An SSD decoder over empty outputs.
    public let decoder: any OutputDecoder
    /// A small input, so that pre-processing costs little.
    public let input: ModelSpec.InputSpec
    /// Seconds one batch of the given size takes.
    public let cost: @Sendable (Int) -> Double
    private let lock = NSLock()
    private var busyUntil = 0.0
    private var pools: [Int: [ScriptedSlot]] = [:]
    private var calls: [Int] = []

    /// Whether every batch fails when waited for: a version that loads and warms up but breaks at run
    /// time (for the model manager's automatic rollback).
    public let failsAtRunTime: Bool
    private var started = 0

    /// Creates an engine whose batch of `B` frames takes `cost(B)` seconds; with `failsAtRunTime`,
    /// every batch after the first (the warm-up) fails.
    public init(
        tag: String = "scripted@1", side: Int = 32, failsAtRunTime: Bool = false,
        cost: @escaping @Sendable (Int) -> Double
    ) {
        self.tag = tag
        self.failsAtRunTime = failsAtRunTime
        self.cost = cost
        input = ModelSpec.InputSpec(
            name: "x", width: side, height: side, layout: .nhwc, color: .rgb, type: .u8, resize: .tfLegacyBilinear)
        let spec = ModelSpec(
            name: "scripted", version: "1", task: "detection", file: "-", decoder: "ssd", labels: [:], input: input,
            outputs: [:], scoreThreshold: 0.5)
        decoder = SSDDecoder(spec: spec)
    }

    /// Batch sizes run so far, in order.
    public var batchesRun: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return calls
    }

    public func slots(batch: Int, count: Int) throws -> [any EngineSlot] {
        var pool = pools[batch] ?? []
        while pool.count < count { pool.append(ScriptedSlot(engine: self, batch: batch)) }
        pools[batch] = pool
        return Array(pool.prefix(count))
    }

    public func suggestedSlots(batch: Int) throws -> Int { 1 }

    /// Reserves the device for one batch; returns when it will be done, or nil when it fails.
    func schedule(batch: Int) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        started += 1
        if failsAtRunTime && started > 1 { return nil }
        calls.append(batch)
        let begin = max(Clock.now, busyUntil)
        busyUntil = begin + cost(batch)
        return busyUntil
    }
}

/// A scripted request.
final class ScriptedSlot: EngineSlot {
    unowned let engine: ScriptedEngine
    let batch: Int
    private var doneAt: Double? = 0

    init(engine: ScriptedEngine, batch: Int) {
        self.engine = engine
        self.batch = batch
    }

    func fill(_ inputs: [[UInt8]]) throws {
        precondition(inputs.count <= batch, "batch larger than the slot")
    }

    func start() throws { doneAt = engine.schedule(batch: batch) }

    func wait() throws {
        guard let doneAt else { throw ScriptedFailure(message: "\(engine.tag): scripted failure at run time") }
        let left = doneAt - Clock.now
        if left > 0 { Thread.sleep(forTimeInterval: left) }
    }

    func outputs() throws -> [String: FloatTensor] {
        [
            "boxes": FloatTensor(shape: [batch, 1, 4], values: Array(repeating: 0, count: batch * 4)),
            "scores": FloatTensor(shape: [batch, 1], values: Array(repeating: 0, count: batch)),
            "classes": FloatTensor(shape: [batch, 1], values: Array(repeating: 0, count: batch)),
            "count": FloatTensor(shape: [batch], values: Array(repeating: 0, count: batch)),
        ]
    }
}

/// A scripted batch that fails, as a real engine's failure at run time would.
public struct ScriptedFailure: Error, CustomStringConvertible {
    /// What failed.
    public var message: String
    public var description: String { message }
}
