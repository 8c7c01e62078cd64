import CoreMetrics
import Foundation
import InferenceEngine
import Monitoring
import Synchronization
import Vision

/// One input of an inference request that came over HTTP (the Open Inference Protocol), not from a
/// stream: it skips decoding and pre-processing, joins the same batches as the streams' frames, and
/// its raw outputs come back here.
final class InferenceTicket: Sendable {
    private enum State {
        case waiting(CheckedContinuation<[String: FloatTensor], any Error>?)
        case done(Result<[String: FloatTensor], any Error>)
    }

    private let state = Mutex(State.waiting(nil))

    /// The batch is out: this input's slice of every output.
    func complete(_ outputs: [String: FloatTensor]) { finish(.success(outputs)) }

    /// The pipeline stopped before it ran.
    func fail(_ error: any Error) { finish(.failure(error)) }

    private func finish(_ result: Result<[String: FloatTensor], any Error>) {
        let waiter: CheckedContinuation<[String: FloatTensor], any Error>? = state.withLock { s in
            guard case .waiting(let c) = s else { return nil }
            s = .done(result)
            return c
        }
        waiter?.resume(with: result)
    }

    /// The outputs, once the batch it ran in is out.
    func outputs() async throws -> [String: FloatTensor] {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<[String: FloatTensor], any Error>? = state.withLock { s in
                switch s {
                case .done(let r): return r
                case .waiting: s = .waiting(continuation)
                }
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// What a model did, as the inference protocol's statistics and Triton's metrics count it.
public struct InferenceCounts: Sendable, Codable, Equatable {
    /// Inputs inferred (stream frames and requests).
    public var inferenceCount = 0
    /// Batches run.
    public var executionCount = 0
    /// Requests answered, and refused or failed.
    public var requestSuccess = 0
    public var requestFailure = 0
    /// Microseconds inputs waited from arrival to their batch's start, in all.
    public var queueMicros = 0.0
    /// Microseconds of inference, per input, in all.
    public var computeMicros = 0.0
    /// Per batch size: batches and their inference microseconds.
    public var batches: [Int: BatchCount] = [:]
    /// When the last inference finished (seconds since 1970), 0 before.
    public var lastInference = 0.0

    public struct BatchCount: Sendable, Codable, Equatable {
        public var count = 0
        public var computeMicros = 0.0
    }
}

/// The counts, shared between the output thread that adds to them and whoever reads them; each
/// event is also counted in the model's metrics (swift-metrics, by `model` and `version`: Triton's
/// `nv_inference_*`), made once per version as it first serves.
public final class InferenceCounters: Sendable {
    private let counts = Mutex(InferenceCounts())
    private let factory: any MetricsFactory
    private struct Series {
        /// The model's name (its `model` dimension), once known.
        var model: String?
        /// The version serving last (its series take the refused requests).
        var current = ""
        var versions: [String: InferenceMetrics] = [:]
    }

    private let series = Mutex(Series())

    /// Counts whose metrics are made through `metrics`.
    public init(metrics: any MetricsFactory = MetricsSystem.factory) { factory = metrics }

    /// A snapshot.
    public var value: InferenceCounts { counts.withLock { $0 } }

    /// The model is `model`, serving `version`: its series are made now (at 0).
    func serving(model: String, version: Int) {
        series.withLock { s in
            s.model = model
            s.current = String(version)
        }
        _ = metrics(tag: nil)
    }

    /// The series of the version that ran a batch tagged `tag` (`name@version`), made when it first
    /// serves; nil for a model not named yet (or nil `tag`: the version serving).
    private func metrics(tag: String?) -> InferenceMetrics? {
        series.withLock { s in
            guard let model = s.model else { return nil }
            if let tag, let at = tag.lastIndex(of: "@") { s.current = String(tag[tag.index(after: at)...]) }
            if let made = s.versions[s.current] { return made }
            let made = InferenceMetrics(model: model, version: s.current, factory: factory)
            s.versions[s.current] = made
            return made
        }
    }

    /// A batch of `frames` inputs (`requests` of them inference requests, now answered) ran at
    /// `size` on the version tagged `tag`.
    func batch(size: Int, frames: Int, requests: Int = 0, inferSeconds: Double, queueSeconds: Double, tag: String) {
        counts.withLock { c in
            c.inferenceCount += frames
            c.executionCount += 1
            c.requestSuccess += requests
            c.queueMicros += queueSeconds * 1e6
            c.computeMicros += inferSeconds * 1e6 * Double(frames)
            c.batches[size, default: .init()].count += 1
            c.batches[size, default: .init()].computeMicros += inferSeconds * 1e6
            c.lastInference = Date().timeIntervalSince1970
        }
        guard let m = metrics(tag: tag) else { return }
        m.inferences.increment(by: frames)
        m.executions.increment()
        if requests > 0 { m.successes.increment(by: requests) }
        m.queueMicros.increment(by: queueSeconds * 1e6)
        m.computeMicros.increment(by: inferSeconds * 1e6 * Double(frames))
    }

    /// A request was answered, or refused.
    public func request(succeeded: Bool) {
        counts.withLock { c in
            if succeeded { c.requestSuccess += 1 } else { c.requestFailure += 1 }
        }
        guard let m = metrics(tag: nil) else { return }
        (succeeded ? m.successes : m.failures).increment()
    }
}

/// One model version's Triton series (by `model` and `version`).
struct InferenceMetrics: Sendable {
    /// `nv_inference_request_success`, `nv_inference_request_failure`.
    let successes: Counter
    let failures: Counter
    /// `nv_inference_count`: inputs inferred.
    let inferences: Counter
    /// `nv_inference_exec_count`: batches run.
    let executions: Counter
    /// `nv_inference_queue_duration_us`, `nv_inference_compute_infer_duration_us`: microseconds.
    let queueMicros: FloatingPointCounter
    let computeMicros: FloatingPointCounter

    init(model: String, version: String, factory: any MetricsFactory) {
        let d = [("model", model), ("version", version)]
        successes = Counter(label: "nv_inference_request_success", dimensions: d, factory: factory)
        failures = Counter(label: "nv_inference_request_failure", dimensions: d, factory: factory)
        inferences = Counter(label: "nv_inference_count", dimensions: d, factory: factory)
        executions = Counter(label: "nv_inference_exec_count", dimensions: d, factory: factory)
        queueMicros = FloatingPointCounter(label: "nv_inference_queue_duration_us", dimensions: d, factory: factory)
        computeMicros = FloatingPointCounter(
            label: "nv_inference_compute_infer_duration_us", dimensions: d, factory: factory)
    }
}

extension FloatTensor {
    /// Element `index` of the first dimension (one input's part of a batch's output).
    func slice(_ index: Int) -> FloatTensor {
        guard let first = shape.first, first > 0 else { return self }
        let per = values.count / first
        let start = min(index, first - 1) * per
        return FloatTensor(shape: [1] + shape.dropFirst(), values: Array(values[start..<(start + per)]))
    }
}

/// A model as the Open Inference Protocol describes it: its input as Batchline takes it (one
/// pre-processed frame per batch element) and its raw outputs.
public struct ModelDescription: Sendable, Equatable {
    /// One tensor.
    public struct Tensor: Sendable, Equatable {
        /// The model's name for it.
        public var name: String
        /// `UINT8` or `FP32`.
        public var datatype: String
        /// Dimensions, -1 where the batch goes.
        public var shape: [Int]
        /// Batchline's role for an output (`boxes`...), nil for the input.
        public var role: String?
    }

    /// The model's name (its repository name).
    public var name: String
    /// The version loaded first.
    public var version: Int
    public var input: Tensor
    public var outputs: [Tensor]
    /// Bytes of one input (one batch element).
    public var bytesPerInput: Int

    init(engine: any InferenceEngine, name: String, version: Int, shapes: [String: [Int]]) {
        self.name = name
        self.version = version
        let spec = engine.input
        let shape = spec.layout == .nhwc ? [-1, spec.height, spec.width, 3] : [-1, 3, spec.height, spec.width]
        input = Tensor(name: spec.name, datatype: spec.type == .u8 ? "UINT8" : "FP32", shape: shape, role: nil)
        bytesPerInput = Preprocessor(input: spec).bytesPerFrame
        let names = engine.outputNames
        outputs = shapes.keys.sorted().map { role in
            Tensor(name: names[role] ?? role, datatype: "FP32", shape: [-1] + (shapes[role]!.dropFirst()), role: role)
        }
    }
}
