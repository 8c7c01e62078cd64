import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Runtime
import Vision

/// An `infer` request checked against the model, and its reply.
extension InferenceProtocol {
    /// The binary tensor extension's header: the JSON's length, the binary tensors after it.
    static let headerLengthField = HTTPField.Name("Inference-Header-Content-Length")!

    /// A request taken: its frames (one model input each) and how to answer.
    struct Parsed {
        var id: String?
        var frames: [[UInt8]]
        /// Outputs asked for, by name, and whether each comes as binary; nil: all, as `binaryAll`.
        var outputs: [(name: String, binary: Bool)]?
        var binaryAll: Bool
    }

    /// Reads a request: the JSON header (all of `body`, or its first `headerLength` bytes, the rest
    /// being the binary tensors in input order; only the JSON is decoded), checked against the
    /// model's input.
    static func parse(_ body: ByteBuffer, headerLength: String?, model d: ModelDescription) throws(Refusal)
        -> Parsed
    {
        let total = body.readableBytes
        var jsonEnd = total
        if let headerLength {
            guard let n = Int(headerLength), n >= 0 else {
                throw Refusal("Inference-Header-Content-Length '\(headerLength.prefix(20))' is not a byte count")
            }
            guard n <= total else {
                throw Refusal("Inference-Header-Content-Length \(n) is past the body's \(total) bytes")
            }
            jsonEnd = n
        }
        let perInput = d.input.shape.dropFirst().reduce(1) { $0 * max($1, 1) }
        // Read in place: no copy of the body, no tree of its JSON.
        let decoded = body.withUnsafeReadableBytes { raw in
            decodeRequest(
                UnsafeRawBufferPointer(rebasing: raw[..<jsonEnd]), maxValues: maxBatch * perInput,
                notAnObject: "the request header is not a JSON object")
        }
        let request: InferRequest
        switch decoded {
        case .success(let r): request = r
        case .failure(let e): throw Refusal(e.message)
        }
        guard request.inputs.count == 1 else {
            throw Refusal("inputs: the model takes one input, \(d.input.name); got \(request.inputs.count)")
        }
        let input = request.inputs[0]
        guard input.name == d.input.name else {
            let given = RequestDecoding.quoted(input.name)
            throw Refusal("inputs[0].name: unknown input '\(given)': the model's input is \(d.input.name)")
        }
        guard input.datatype == d.input.datatype else {
            let given = RequestDecoding.quoted(input.datatype)
            throw Refusal("inputs[0].datatype: \(input.name) is \(d.input.datatype), not \(given)")
        }
        let shape = input.shape
        let dims = d.input.shape.dropFirst()
        guard shape.count == d.input.shape.count, (1...maxBatch).contains(shape[0]), shape.dropFirst() == dims else {
            let takes = "[N,\(dims.map(String.init).joined(separator: ","))]"
            throw Refusal("inputs[0].shape: \(shape); the model takes \(takes) with N in 1...\(maxBatch)")
        }
        let n = shape[0]
        let expected = n * d.bytesPerInput
        var frames: [[UInt8]] = []
        frames.reserveCapacity(n)
        if let size = try integer(input.parameters?["binary_data_size"], "inputs[0].parameters.binary_data_size") {
            let at = "inputs[0].parameters.binary_data_size"
            guard input.data == nil else { throw Refusal("\(at): binary data and JSON data both given") }
            guard size == expected else { throw Refusal("\(at): \(size), but shape \(shape) needs \(expected) bytes") }
            guard total - jsonEnd == size else {
                throw Refusal("\(at): \(size), but \(total - jsonEnd) binary bytes follow the header")
            }
            for k in 0..<n {
                frames.append(
                    body.getBytes(at: body.readerIndex + jsonEnd + k * d.bytesPerInput, length: d.bytesPerInput)!)
            }
        } else {
            guard headerLength == nil || total == jsonEnd else {
                throw Refusal("binary bytes after the header, but no input says binary_data_size")
            }
            guard let data = input.data?.bytes else {
                throw Refusal("inputs[0].data: missing (give it, or binary data with parameters.binary_data_size)")
            }
            guard data.count == expected else {
                throw Refusal("inputs[0].data: \(data.count) bytes of values, but shape \(shape) needs \(expected)")
            }
            for k in 0..<n { frames.append(Array(data[(k * d.bytesPerInput)..<((k + 1) * d.bytesPerInput)])) }
        }
        let binaryAll = try flag(request.parameters?["binary_data_output"], "parameters.binary_data_output") ?? false
        var outputs: [(name: String, binary: Bool)]?
        if let asked = request.outputs, !asked.isEmpty {
            outputs = []
            for (i, o) in asked.enumerated() {
                guard d.outputs.contains(where: { $0.name == o.name }) else {
                    let known = d.outputs.map(\.name).joined(separator: ", ")
                    throw Refusal(
                        "outputs[\(i)].name: unknown output '\(RequestDecoding.quoted(o.name))' (the model's: \(known))"
                    )
                }
                let binary = try flag(o.parameters?["binary_data"], "outputs[\(i)].parameters.binary_data")
                outputs!.append((o.name, binary ?? binaryAll))
            }
        }
        return Parsed(id: request.id, frames: frames, outputs: outputs, binaryAll: binaryAll)
    }

    /// A parameter that must be an integer when given.
    static func integer(_ value: Parameter?, _ at: String) throws(Refusal) -> Int? {
        switch value {
        case nil: return nil
        case .int(let i): return i
        default: throw Refusal("\(at): expected an integer")
        }
    }

    /// A parameter that must be true or false when given.
    static func flag(_ value: Parameter?, _ at: String) throws(Refusal) -> Bool? {
        switch value {
        case nil: return nil
        case .bool(let b): return b
        default: throw Refusal("\(at): expected true or false")
        }
    }

    // MARK: The reply

    /// `{"id", "model_name", "model_version", "outputs"}`.
    struct InferReply: Encodable {
        var id: String?
        var model_name: String
        var model_version: String
        var outputs: [OutputTensor]
    }

    /// One output: its values as JSON `data`, or as binary after the JSON (`binary_data_size`).
    struct OutputTensor: Encodable {
        var name: String
        var datatype: String
        var shape: [Int]
        var parameters: OutputParameters?
        var data: [Float]?
    }

    struct OutputParameters: Encodable {
        var binary_data_size: Int
    }

    /// The response: JSON, with binary tensors after it where asked for.
    static func reply(_ results: [[String: FloatTensor]], parsed: Parsed, model d: ModelDescription, version: Int)
        -> Response
    {
        let wanted = parsed.outputs ?? d.outputs.map { ($0.name, parsed.binaryAll) }
        var outputs: [OutputTensor] = []
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
            var output = OutputTensor(name: name, datatype: "FP32", shape: [results.count] + shape)
            if binary {
                let start = blobs.count
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { blobs.append(contentsOf: $0) } }
                output.parameters = OutputParameters(binary_data_size: blobs.count - start)
            } else {
                output.data = values
            }
            outputs.append(output)
        }
        let header = InferReply(
            id: parsed.id, model_name: d.name, model_version: String(version), outputs: outputs)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(header) else {
            return ControlPlane.error(
                .internalServerError, "an output holds NaN or infinity, which JSON cannot carry: ask for it as binary")
        }
        var buffer = ByteBuffer(bytes: json)
        var headers: HTTPFields = [:]
        if blobs.isEmpty {
            headers[.contentType] = "application/json"
        } else {
            buffer.writeBytes(blobs)
            headers[.contentType] = "application/octet-stream"
            headers[headerLengthField] = String(json.count)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }
}
