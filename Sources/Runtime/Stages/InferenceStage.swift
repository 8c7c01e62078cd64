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

/// The batching and inference thread: gathers frames in order into batches of the current size
/// (flushing a partial batch after the time-out), keeps up to `requests` inferences in flight, and
/// hands finished batches on in submission order. Each batch runs on the engine the model manager
/// names at its start, so a new version takes over at a batch boundary while batches in flight
/// finish on the old one.
struct InferenceStage {
    let models: ModelManager
    /// Requests per engine and size: the most that may be in flight.
    let requests: Int
    /// How many to keep in flight now.
    let inFlight: @Sendable () -> Int
    let timeout: @Sendable () -> Double
    let batchSize: @Sendable () -> Int
    private struct InFlight {
        var request: any EngineSlot
        var frames: [ReadyFrame]
        var started: Double
        var size: Int
        var engine: Int
        var tag: String
        var decoder: any OutputDecoder
    }
    private var ring: [InFlight] = []
    /// When the batch being gathered got its first frame.
    private var gatheringSince = 0.0
    /// Slots per engine and batch size, asked of the engine once rather than once per batch.
    private var pools: [PoolKey: [any EngineSlot]] = [:]
    private struct PoolKey: Hashable {
        var engine: Int
        var size: Int
    }

    init(
        models: ModelManager, requests: Int, inFlight: @escaping @Sendable () -> Int,
        timeout: @escaping @Sendable () -> Double,
        batchSize: @escaping @Sendable () -> Int
    ) {
        self.models = models
        self.requests = requests
        self.inFlight = inFlight
        self.timeout = timeout
        self.batchSize = batchSize
    }

    mutating func run(from ready: ReorderBuffer<ReadyFrame>, to inferred: BoundedQueue<InferredBatch>) throws {
        var pending: [ReadyFrame] = []
        var deadline = Double.infinity
        while true {
            let next: PopResult<ReadyFrame>
            if !ring.isEmpty {
                // Requests are running: take a frame if one is ready now, else finish the oldest
                // request rather than sit on its results.
                next = ready.popNext(until: Clock.now)
                if case .timedOut = next {
                    guard try complete(into: inferred) else { return }
                    continue
                }
            } else {
                next = ready.popNext(until: pending.isEmpty ? .infinity : deadline)
            }
            switch next {
            case .element(let frame):
                if pending.isEmpty {
                    gatheringSince = Clock.now
                    deadline = gatheringSince + timeout()
                }
                pending.append(frame)
                if pending.count >= batchSize() {
                    guard try submit(&pending, into: inferred) else { return }
                }
            case .timedOut:
                guard try submit(&pending, into: inferred) else { return }
            case .closed:
                if !pending.isEmpty {
                    guard try submit(&pending, into: inferred) else { return }
                }
                while !ring.isEmpty {
                    guard try complete(into: inferred) else { return }
                }
                return
            }
        }
    }

    /// The slots of `engine` for batches of `size`.
    private mutating func pool(_ engine: (id: Int, engine: any InferenceEngine), size: Int) throws -> [any EngineSlot] {
        let key = PoolKey(engine: engine.id, size: size)
        if let pool = pools[key] { return pool }
        let pool = try engine.engine.slots(batch: size, count: requests)
        pools[key] = pool
        return pool
    }

    /// Starts `pending` as one batch on a free request, waiting for the oldest if none is free.
    /// A partial batch (time-out, end of input) runs on the current size's requests, padded: its
    /// unused slots cost compute, but compiling the model for every partial size would stall the
    /// stream for longer. Returns false when the output queue was closed (the run is stopping).
    private mutating func submit(_ pending: inout [ReadyFrame], into inferred: BoundedQueue<InferredBatch>) throws
        -> Bool
    {
        guard !pending.isEmpty else { return true }
        let size = batchSize()
        // The size fell while this batch gathered: it runs as batches of the new size, in order, on
        // requests compiled for it (a size compiled on the spot stalled the stream for a second).
        var start = 0
        while start < pending.count {
            let chunk = Array(pending[start..<min(start + size, pending.count)])
            start += chunk.count
            while ring.count >= min(requests, max(1, inFlight())) {
                guard try complete(into: inferred) else { return false }
            }
            let engine = models.engineForBatch(inFlight: ring.count, waitingSince: gatheringSince)
            ring.append(try self.start(chunk, size: size, on: engine))
        }
        pending.removeAll(keepingCapacity: true)
        return true
    }

    /// Starts `frames` on a free request of `engine`. Whatever fails (compiling for the size, filling,
    /// starting) goes to the model manager, which rolls a new version back and names the engine to
    /// try next, or rethrows when there is nothing to fall back on.
    private mutating func start(_ frames: [ReadyFrame], size: Int, on engine: (id: Int, engine: any InferenceEngine))
        throws -> InFlight
    {
        var engine = engine
        while true {
            do {
                // Fewer than `requests` batches are in flight, so each engine has a request free.
                guard let free = try pool(engine, size: size).first(where: { r in !ring.contains { $0.request === r } })
                else { throw PipelineError(.failed, "no free inference request (a bug: \(ring.count) in flight)") }
                try free.fill(frames.map(\.input))
                try free.start()
                return InFlight(
                    request: free, frames: frames, started: Clock.now, size: size, engine: engine.id,
                    tag: engine.engine.tag, decoder: engine.engine.decoder)
            } catch {
                engine = try models.failed(engine.id, error: error)
            }
        }
    }

    /// Waits for the oldest request in flight and passes its batch on. A batch that fails is run again
    /// where the model manager says (after rolling a new version back).
    private mutating func complete(into inferred: BoundedQueue<InferredBatch>) throws -> Bool {
        var oldest = ring.removeFirst()
        var outputs: [String: FloatTensor]
        while true {
            do {
                try oldest.request.wait()
                outputs = try oldest.request.outputs()
                break
            } catch {
                let engine = try models.failed(oldest.engine, error: error)
                oldest = try start(oldest.frames, size: oldest.size, on: engine)
            }
        }
        let seconds = Clock.now - oldest.started
        let freed = models.finished(oldest.engine)
        if !freed.isEmpty {
            pools = pools.filter { !freed.contains($0.key.engine) }
            ModelManager.returnFreedMemory()
        }
        return inferred.push(
            InferredBatch(
                frames: oldest.frames, outputs: outputs, inferSeconds: seconds, slotBatch: oldest.size,
                model: oldest.tag, decoder: oldest.decoder, started: oldest.started))
    }
}
