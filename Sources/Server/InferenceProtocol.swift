import Core
import EdgeNode
import Foundation
import HTTPTypes
import Hummingbird
import ModelServing
import NIOCore
import Runtime
import Vision

/// The Open Inference Protocol (KServe v2) as NVIDIA's `tritonclient` speaks it: server and model
/// metadata and readiness, `infer` with JSON tensors and the binary tensor extension, the model
/// repository extension and the statistics extension. An `infer` request's inputs join the model's
/// batches with the camera frames (the same batcher, the same batch size manager); its outputs are
/// the model's raw outputs.
enum InferenceProtocol {
    /// The largest `infer` body taken whatever the model (64 frames of 300x300x3 bytes fit with room
    /// to spare); a model's own bound is `maxBody(for:binary:)`, often less.
    static let maxInferBody = 32 << 20
    /// What an `infer` request's JSON may hold besides its tensor data.
    static let headerAllowance = 64 << 10
    /// Inputs one request may carry.
    static let maxBatch = 64

    static func add(to router: Router<ControlContext>, service: EdgeService, admission: Admission) {
        router.get("/v2") { _, _ in
            ControlPlane.json(
                ServerMetadata(
                    name: "batchline", version: BatchlineVersion.current,
                    extensions: ["binary_tensor_data", "model_repository", "statistics"]))
        }
        for path in ["/v2/models/:model", "/v2/models/:model/versions/:version"] {
            router.get(RouterPath(path)) { _, context in
                try withModel(service, context) { pipeline, d in ControlPlane.json(metadata(d, pipeline)) }
            }
            router.get(RouterPath(path + "/ready")) { _, context in
                try withModel(service, context) { _, _ in Response(status: .ok) }
            }
            router.post(RouterPath(path + "/infer")) { request, context in
                // Read, decoded and run `server.max_infer_requests` at once: the rest are refused
                // before their body is read.
                try await admission.run { try await infer(service, request, context) }
            }
            router.get(RouterPath(path + "/stats")) { _, context in
                try withModel(service, context) { pipeline, d in
                    ControlPlane.json(StatsReply(model_stats: [stats(d, pipeline)]))
                }
            }
        }
        router.get("/v2/models/stats") { _, _ in
            ControlPlane.json(
                StatsReply(
                    model_stats: service.servedModels.compactMap { p in p.modelDescription.map { stats($0, p) } }))
        }
        router.post("/v2/repository/index") { _, _ in
            ControlPlane.json(service.repositoryIndex())
        }
        router.post("/v2/repository/models/:model/load") { request, context in
            let name = context.parameters.get("model") ?? ""
            // An optional body, `{"parameters": {"version": N}}`: that version (else the latest).
            let version: Int?
            switch await LoadRequest.decode(request) {
            case .success(let v): version = v
            case .failure(let refusal): return refusal.response
            }
            do {
                try await service.load(model: name, version: version)
                return Response(status: .ok)
            } catch {
                return ControlPlane.error(error)
            }
        }
        router.post("/v2/repository/models/:model/unload") { _, context in
            let name = context.parameters.get("model") ?? ""
            do {
                try await service.unload(model: name)
                return Response(status: .ok)
            } catch {
                return ControlPlane.error(error)
            }
        }
    }

    /// Runs `body` with the model the path names (and, when given, checks its version).
    static func withModel(
        _ service: EdgeService, _ context: ControlContext,
        _ body: (DetectionPipeline, ModelDescription) throws -> Response
    ) throws -> Response {
        let name = context.parameters.get("model") ?? ""
        guard let pipeline = service.servedPipeline(named: name), let description = pipeline.modelDescription else {
            return ControlPlane.error(.notFound, "no model '\(name.prefix(80))' is loaded")
        }
        if let v = context.parameters.get("version") {
            let serving = pipeline.models?.status.version ?? description.version
            guard Int(v) == serving else {
                return ControlPlane.error(.notFound, "model '\(name)' serves version \(serving), not \(v.prefix(20))")
            }
        }
        return try body(pipeline, description)
    }

    // MARK: Metadata and statistics

    struct ServerMetadata: Encodable {
        var name: String
        var version: String
        var extensions: [String]
    }

    struct TensorMetadata: Encodable {
        var name: String
        var datatype: String
        var shape: [Int]
    }

    struct ModelMetadata: Encodable {
        var name: String
        var versions: [String]
        var platform: String
        var inputs: [TensorMetadata]
        var outputs: [TensorMetadata]
    }

    static func metadata(_ d: ModelDescription, _ pipeline: DetectionPipeline) -> ModelMetadata {
        let version = pipeline.models?.status.version ?? d.version
        return ModelMetadata(
            name: d.name, versions: [String(version)], platform: "openvino",
            inputs: [TensorMetadata(name: d.input.name, datatype: d.input.datatype, shape: d.input.shape)],
            outputs: d.outputs.map { TensorMetadata(name: $0.name, datatype: $0.datatype, shape: $0.shape) })
    }

    struct Duration: Encodable {
        var count: Int
        var ns: Int
    }

    struct InferenceStats: Encodable {
        var success: Duration
        var fail: Duration
        var queue: Duration
        var compute_input: Duration
        var compute_infer: Duration
        var compute_output: Duration
    }

    struct BatchStats: Encodable {
        var batch_size: Int
        var compute_input: Duration
        var compute_infer: Duration
        var compute_output: Duration
    }

    struct ModelStats: Encodable {
        var name: String
        var version: String
        var last_inference: Int
        var inference_count: Int
        var execution_count: Int
        var inference_stats: InferenceStats
        var batch_stats: [BatchStats]
    }

    struct StatsReply: Encodable {
        var model_stats: [ModelStats]
    }

    static func stats(_ d: ModelDescription, _ pipeline: DetectionPipeline) -> ModelStats {
        let c = pipeline.counters.value
        let zero = Duration(count: 0, ns: 0)
        let version = pipeline.models?.status.version ?? d.version
        return ModelStats(
            name: d.name, version: String(version), last_inference: Int(c.lastInference * 1000),
            inference_count: c.inferenceCount, execution_count: c.executionCount,
            inference_stats: InferenceStats(
                success: Duration(count: c.requestSuccess, ns: 0), fail: Duration(count: c.requestFailure, ns: 0),
                queue: Duration(count: c.inferenceCount, ns: Int(c.queueMicros * 1000)), compute_input: zero,
                compute_infer: Duration(count: c.inferenceCount, ns: Int(c.computeMicros * 1000)),
                compute_output: zero),
            batch_stats: c.batches.keys.sorted().map { size in
                let b = c.batches[size]!
                return BatchStats(
                    batch_size: size, compute_input: zero,
                    compute_infer: Duration(count: b.count, ns: Int(b.computeMicros * 1000)), compute_output: zero)
            })
    }

    // MARK: infer

    /// A malformed request: 400 with the reason, the pipeline untouched.
    struct Refusal: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    static func infer(_ service: EdgeService, _ request: Request, _ context: ControlContext) async throws
        -> Response
    {
        let name = context.parameters.get("model") ?? ""
        guard let pipeline = service.servedPipeline(named: name), let d = pipeline.modelDescription else {
            return ControlPlane.error(.notFound, "no model '\(name.prefix(80))' is loaded")
        }
        if let v = context.parameters.get("version"), Int(v) != (pipeline.models?.status.version ?? d.version) {
            return ControlPlane.error(.notFound, "model '\(name)' does not serve version \(v.prefix(20))")
        }
        // No more than the model's input can need: refused on its Content-Length before any of it
        // is read, or when more comes than it said.
        let limit = maxBody(for: d, binary: request.headers[headerLengthField] != nil)
        let tooLarge = ControlPlane.error(
            .contentTooLarge, "request body over \(limit) bytes, more than \(d.name)'s input can need")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { return tooLarge }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            return tooLarge
        }
        let parsed: Parsed
        let headerLength = request.headers[headerLengthField]
        do {
            // Tens of megabytes of JSON take a while: on the blocking executor, so that the
            // cooperative pool goes on reading the other connections (whose idle timeout runs).
            parsed = try await BlockingExecutor.shared.run { () throws(Refusal) in
                try parse(body, headerLength: headerLength, model: d)
            }
        } catch {
            pipeline.counters.request(succeeded: false)
            return ControlPlane.error(.badRequest, error.message)
        }
        let results: [[String: FloatTensor]]
        do {
            results = try await pipeline.infer(parsed.frames)
        } catch {
            return ControlPlane.error(error)
        }
        return reply(results, parsed: parsed, model: d, version: pipeline.models?.status.version ?? d.version)
    }
}

extension InferenceProtocol {
    /// The most bytes an `infer` body for `d` can need: `maxBatch` inputs as binary tensors after
    /// the JSON header, or as JSON numbers (at most 6 characters for a byte, `0255, `; 26 for a
    /// float), plus `headerAllowance`; never more than `maxInferBody`.
    static func maxBody(for d: ModelDescription, binary: Bool) -> Int {
        let values = d.input.shape.dropFirst().reduce(1) { $0 * max($1, 1) }
        let perValue = binary ? d.bytesPerInput / max(values, 1) : (d.input.datatype == "UINT8" ? 6 : 26)
        let (need, overflow) = (maxBatch * values).multipliedReportingOverflow(by: max(perValue, 1))
        return overflow ? maxInferBody : min(maxInferBody, need + headerAllowance)
    }
}

/// Batchline's version, as `GET /v2` reports it.
enum BatchlineVersion {
    static let current = "0.9.0"
}
