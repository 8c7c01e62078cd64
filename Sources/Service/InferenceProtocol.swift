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
    /// The largest `infer` body taken (64 frames of 300x300x3 bytes fit with room to spare).
    static let maxInferBody = 32 << 20
    /// Inputs one request may carry.
    static let maxBatch = 64

    static func add(to router: Router<BasicRequestContext>, service: EdgeService) {
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
                try await infer(service, request, context)
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
        router.post("/v2/repository/models/:model/load") { _, context in
            let name = context.parameters.get("model") ?? ""
            do {
                try await service.load(model: name)
                return Response(status: .ok)
            } catch let e as ServiceError {
                return ControlPlane.error(ControlPlane.status(e.code), e.message)
            }
        }
        router.post("/v2/repository/models/:model/unload") { _, context in
            let name = context.parameters.get("model") ?? ""
            do {
                try await service.unload(model: name)
                return Response(status: .ok)
            } catch let e as ServiceError {
                return ControlPlane.error(ControlPlane.status(e.code), e.message)
            }
        }
    }

    /// Runs `body` with the model the path names (and, when given, checks its version).
    static func withModel(
        _ service: EdgeService, _ context: BasicRequestContext,
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

    static func infer(_ service: EdgeService, _ request: Request, _ context: BasicRequestContext) async throws
        -> Response
    {
        let name = context.parameters.get("model") ?? ""
        guard let pipeline = service.servedPipeline(named: name), let d = pipeline.modelDescription else {
            return ControlPlane.error(.notFound, "no model '\(name.prefix(80))' is loaded")
        }
        if let v = context.parameters.get("version"), Int(v) != (pipeline.models?.status.version ?? d.version) {
            return ControlPlane.error(.notFound, "model '\(name)' does not serve version \(v.prefix(20))")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxInferBody)
        } catch is NIOTooManyBytesError {
            return ControlPlane.error(.contentTooLarge, "request body over \(maxInferBody) bytes")
        }
        let headerLength = request.headers[HTTPField.Name("Inference-Header-Content-Length")!].flatMap { Int($0) }
        let parsed: Parsed
        do {
            parsed = try parse(Array(body.readableBytesView), headerLength: headerLength, model: d)
        } catch let e as Refusal {
            pipeline.counters.request(succeeded: false)
            return ControlPlane.error(.badRequest, e.message)
        }
        let results: [[String: FloatTensor]]
        do {
            results = try await pipeline.infer(parsed.frames)
        } catch let e as PipelineError {
            let status: HTTPResponse.Status =
                e.code == .busy || e.code == .notReady ? .serviceUnavailable : .internalServerError
            return ControlPlane.error(status, e.message)
        }
        return reply(results, parsed: parsed, model: d, version: pipeline.models?.status.version ?? d.version)
    }

    struct Parsed {
        var id: String?
        var frames: [[UInt8]]
        /// Outputs asked for, by name, and whether each comes as binary; nil: all, as `binaryAll`.
        var outputs: [(name: String, binary: Bool)]?
        var binaryAll: Bool
    }

    /// Reads a request: the JSON header (all of the body, or its first `headerLength` bytes, the
    /// rest being the binary tensors in input order), checked against the model's input.
    static func parse(_ bytes: [UInt8], headerLength: Int?, model d: ModelDescription) throws -> Parsed {
        let jsonEnd = headerLength ?? bytes.count
        guard jsonEnd >= 0, jsonEnd <= bytes.count else {
            throw Refusal("Inference-Header-Content-Length \(jsonEnd) is past the body's \(bytes.count) bytes")
        }
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[0..<jsonEnd])) as? [String: Any] else {
            throw Refusal("the request header is not a JSON object")
        }
        if let unknown = header.keys.sorted().first(where: { !["id", "inputs", "outputs", "parameters"].contains($0) })
        {
            throw Refusal("unknown field '\(unknown)'")
        }
        guard let inputs = header["inputs"] as? [[String: Any]], !inputs.isEmpty else {
            throw Refusal("'inputs' must be a non-empty list of tensors")
        }
        guard inputs.count == 1 else {
            throw Refusal("the model takes one input, \(d.input.name); got \(inputs.count)")
        }
        let input = inputs[0]
        guard let inputName = input["name"] as? String, inputName == d.input.name else {
            throw Refusal("unknown input '\(input["name"] ?? "")': the model's input is \(d.input.name)")
        }
        guard let datatype = input["datatype"] as? String, datatype == d.input.datatype else {
            throw Refusal("input \(inputName) is \(d.input.datatype), not \(input["datatype"] ?? "missing")")
        }
        guard let shape = (input["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
            shape.count == d.input.shape.count
        else { throw Refusal("input \(inputName) needs a shape like \(d.input.shape)") }
        let n = shape[0]
        guard (1...maxBatch).contains(n), Array(shape.dropFirst()) == Array(d.input.shape.dropFirst()) else {
            throw Refusal(
                "input \(inputName) has shape \(shape); the model takes [N,\(d.input.shape.dropFirst().map(String.init).joined(separator: ","))] with N in 1...\(maxBatch)"
            )
        }
        let expected = n * d.bytesPerInput
        var data: [UInt8]
        let parameters = input["parameters"] as? [String: Any] ?? [:]
        if let size = (parameters["binary_data_size"] as? NSNumber)?.intValue {
            guard size == expected else {
                throw Refusal(
                    "input \(inputName): binary_data_size \(size), but shape \(shape) needs \(expected) bytes")
            }
            guard bytes.count - jsonEnd == size else {
                throw Refusal("input \(inputName): \(bytes.count - jsonEnd) binary bytes after the header, not \(size)")
            }
            data = Array(bytes[jsonEnd...])
        } else {
            guard headerLength == nil || bytes.count == jsonEnd else {
                throw Refusal("binary bytes after the header, but no input says binary_data_size")
            }
            guard let values = input["data"] as? [Any] else { throw Refusal("input \(inputName) has no data") }
            data = []
            data.reserveCapacity(expected)
            func flatten(_ v: Any) throws {
                if let list = v as? [Any] {
                    for x in list { try flatten(x) }
                } else if let x = v as? NSNumber, x.doubleValue == x.doubleValue.rounded(),
                    (0...255).contains(x.intValue)
                {
                    data.append(UInt8(x.intValue))
                } else {
                    throw Refusal("input \(inputName): UINT8 data holds integers 0...255 only")
                }
            }
            try flatten(values)
            guard data.count == expected else {
                throw Refusal("input \(inputName): \(data.count) values, but shape \(shape) needs \(expected)")
            }
        }
        var frames: [[UInt8]] = []
        for k in 0..<n { frames.append(Array(data[(k * d.bytesPerInput)..<((k + 1) * d.bytesPerInput)])) }
        let binaryAll = ((header["parameters"] as? [String: Any])?["binary_data_output"] as? Bool) ?? false
        var outputs: [(name: String, binary: Bool)]?
        if let asked = header["outputs"] as? [[String: Any]], !asked.isEmpty {
            outputs = []
            for o in asked {
                guard let oname = o["name"] as? String, d.outputs.contains(where: { $0.name == oname }) else {
                    let known = d.outputs.map(\.name).joined(separator: ", ")
                    throw Refusal("unknown output '\(o["name"] ?? "")' (the model's: \(known))")
                }
                let binary = ((o["parameters"] as? [String: Any])?["binary_data"] as? Bool) ?? binaryAll
                outputs!.append((oname, binary))
            }
        }
        return Parsed(id: header["id"] as? String, frames: frames, outputs: outputs, binaryAll: binaryAll)
    }

    /// The response: JSON, with binary tensors after it where asked for.
    static func reply(_ results: [[String: FloatTensor]], parsed: Parsed, model d: ModelDescription, version: Int)
        -> Response
    {
        let wanted = parsed.outputs ?? d.outputs.map { ($0.name, parsed.binaryAll) }
        var outputs: [[String: Any]] = []
        var blobs: [UInt8] = []
        for (name, binary) in wanted {
            let tensor = d.outputs.first { $0.name == name }!
            var values: [Float] = []
            var shape: [Int] = []
            for r in results {
                let t = r[tensor.role ?? name] ?? FloatTensor(shape: [1], values: [])
                values += t.values
                shape = Array(t.shape.dropFirst())
            }
            var entry: [String: Any] = ["name": name, "datatype": "FP32", "shape": [results.count] + shape]
            if binary {
                let start = blobs.count
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { blobs.append(contentsOf: $0) } }
                entry["parameters"] = ["binary_data_size": blobs.count - start]
            } else {
                entry["data"] = values.map { Double($0) }
            }
            outputs.append(entry)
        }
        var header: [String: Any] = ["model_name": d.name, "model_version": String(version), "outputs": outputs]
        if let id = parsed.id { header["id"] = id }
        let json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        var buffer = ByteBuffer(bytes: json)
        var headers: HTTPFields = [:]
        if blobs.isEmpty {
            headers[.contentType] = "application/json"
        } else {
            buffer.writeBytes(blobs)
            headers[.contentType] = "application/octet-stream"
            headers[HTTPField.Name("Inference-Header-Content-Length")!] = String(json.count)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }
}

/// Batchline's version, as `GET /v2` reports it.
enum BatchlineVersion {
    static let current = "0.9.0"
}
