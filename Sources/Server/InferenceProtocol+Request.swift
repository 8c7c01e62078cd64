import Foundation
import HTTPTypes
import Hummingbird

/// The `infer` request's JSON, as typed values. Only what the Open Inference Protocol defines is
/// read: the request's keys are checked, a tensor's and an output's extra keys are left alone.
extension InferenceProtocol {
    /// `{"id", "parameters", "inputs", "outputs"}`.
    struct InferRequest: Decodable {
        var id: String?
        var parameters: [String: Parameter]?
        var inputs: [InferInput]
        /// The outputs asked for; nil or empty: all of them.
        var outputs: [RequestedOutput]?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, parameters, inputs, outputs
        }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.strict(String.self, forKey: .id)
            parameters = try c.strict([String: Parameter].self, forKey: .parameters)
            guard let inputs = try c.strict([InferInput].self, forKey: .inputs), !inputs.isEmpty else {
                throw FieldError(at: c.codingPath + [CodingKeys.inputs], "give a non-empty list of tensors")
            }
            self.inputs = inputs
            outputs = try c.strict([RequestedOutput].self, forKey: .outputs)
        }
    }

    /// One input tensor: `{"name", "shape", "datatype", "parameters", "data"}`, `data` a list of
    /// numbers nested as deep as the client likes (or absent, the tensor coming as binary after the
    /// JSON). Its shape is checked here (positive, no more values than the model takes in one
    /// request: `maxTensorValues` in the decoder's `userInfo`); its data is read from the body's
    /// bytes by `decodeRequest` (`TensorScan`), never through the decoder, and checked against the shape.
    struct InferInput: Decodable {
        var name: String
        var shape: [Int]
        var datatype: String
        var parameters: [String: Parameter]?
        /// Nil when the request has no `data` (binary data), or has it for a datatype that no model
        /// takes (refused by the datatype's check, so never read).
        var data: TensorData?

        enum CodingKeys: String, CodingKey {
            case name, shape, datatype, parameters, data
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            datatype = try c.decode(String.self, forKey: .datatype)
            shape = try c.integers(forKey: .shape)
            parameters = try c.strict([String: Parameter].self, forKey: .parameters)
            let at = c.codingPath + [CodingKeys.shape]
            guard shape.allSatisfy({ $0 > 0 }) else {
                throw FieldError(at: at, "\(shape): every dimension must be positive")
            }
            let limit = decoder.userInfo[.maxTensorValues] as? Int ?? Int.max
            let (count, overflow) = shape.reduce((1, false)) { acc, n in
                let (product, o) = acc.0.multipliedReportingOverflow(by: n)
                return (product, acc.1 || o)
            }
            guard !overflow, count <= limit else {
                throw FieldError(at: at, "\(shape) holds more values than the model takes in one request (\(limit))")
            }
            data = nil
        }

        /// The values of `data` (at `span` of `json`), typed as `datatype` says; nil for a datatype
        /// that no model takes (refused by the datatype's check).
        func values(in json: UnsafeRawBufferPointer, at span: Range<Int>, path: String) throws(FieldError)
            -> TensorData?
        {
            let count = shape.reduce(1, *)
            switch datatype {
            case "UINT8":
                return .uint8(
                    try TensorScan.values(UInt8.self, in: json, at: span, shape: shape, count: count, path: path))
            case "FP32":
                return .fp32(
                    try TensorScan.values(Float.self, in: json, at: span, shape: shape, count: count, path: path))
            case "FP64":
                return .fp64(
                    try TensorScan.values(Double.self, in: json, at: span, shape: shape, count: count, path: path))
            default: return nil
            }
        }
    }

    /// An `infer` request's JSON (`json`), read in place: everything but the tensors' data decoded
    /// as `InferRequest`, each input's data parsed from the bytes (`TensorScan`); or the 400 that
    /// says why not. `maxValues`: the most values one input may hold.
    static func decodeRequest(_ json: UnsafeRawBufferPointer, maxValues: Int, notAnObject: String) -> Result<
        InferRequest, BodyRefusal
    > {
        guard let (header, spans) = TensorScan.split(json) else {
            return .failure(BodyRefusal(.badRequest, notAnObject))
        }
        var request: InferRequest
        switch RequestDecoding.decode(
            InferRequest.self, from: header, userInfo: [.maxTensorValues: maxValues], notAnObject: notAnObject)
        {
        case .success(let r): request = r
        case .failure(let refusal): return .failure(refusal)
        }
        for k in request.inputs.indices {
            guard let span = spans[k] else { continue }
            do {
                request.inputs[k].data = try request.inputs[k].values(in: json, at: span, path: "inputs[\(k)].data")
            } catch {
                return .failure(BodyRefusal(.badRequest, error.description))
            }
        }
        return .success(request)
    }

    /// `decodeRequest` on `json`'s bytes.
    static func decodeRequest(_ json: Data, maxValues: Int, notAnObject: String) -> Result<InferRequest, BodyRefusal> {
        json.withUnsafeBytes { decodeRequest($0, maxValues: maxValues, notAnObject: notAnObject) }
    }

    /// An output asked for: `{"name", "parameters"}` (`binary_data`: true for binary).
    struct RequestedOutput: Decodable {
        var name: String
        var parameters: [String: Parameter]?
    }

    /// A parameter's value: the protocol's parameters are booleans, numbers or strings.
    enum Parameter: Decodable, Equatable {
        case bool(Bool)
        case int(Int)
        case double(Double)
        case string(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let i = try? c.decode(Int.self) {
                self = .int(i)
            } else if let d = try? c.decode(Double.self) {
                self = .double(d)
            } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else {
                throw FieldError(at: decoder.codingPath, "expected true, false, a number or a string")
            }
        }
    }

    /// A tensor's values, flattened in row-major order, typed as its datatype says.
    enum TensorData: Equatable {
        case uint8([UInt8])
        case fp32([Float])
        case fp64([Double])

        var count: Int {
            switch self {
            case .uint8(let v): v.count
            case .fp32(let v): v.count
            case .fp64(let v): v.count
            }
        }

        /// The values as a model takes them: one byte each, or each float's bytes (little-endian,
        /// as the binary tensor extension has them).
        var bytes: [UInt8] {
            switch self {
            case .uint8(let v): v
            case .fp32(let v): Self.littleEndian(v.map(\.bitPattern))
            case .fp64(let v): Self.littleEndian(v.map(\.bitPattern))
            }
        }

        static func littleEndian<T: FixedWidthInteger>(_ words: [T]) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(words.count * MemoryLayout<T>.size)
            for w in words { withUnsafeBytes(of: w.littleEndian) { bytes.append(contentsOf: $0) } }
            return bytes
        }
    }
}

extension CodingUserInfoKey {
    /// The most values one `infer` input may hold (an `Int`): the model's batch limit times the
    /// values of one of its inputs.
    static let maxTensorValues = CodingUserInfoKey(rawValue: "batchline.maxTensorValues")!
}

/// A number of a tensor's data, read from a JSON number, and what its datatype allows, as a
/// refusal says it.
protocol TensorElement {
    static var allowed: String { get }
    /// The value of JSON number `n`; nil when this type cannot hold it.
    init?(json n: UnsafeRawBufferPointer.SubSequence)
}

extension UInt8: TensorElement {
    static var allowed: String { "UINT8 data holds integers 0...255 only" }
    init?(json n: UnsafeRawBufferPointer.SubSequence) {
        guard let d = JSONReader.double(n) else { return nil }
        self.init(exactly: d)
    }
}

extension Float: TensorElement {
    static var allowed: String { "FP32 data holds numbers within FP32's range only" }
    init?(json n: UnsafeRawBufferPointer.SubSequence) {
        guard let d = JSONReader.double(n), d.isFinite, abs(d) <= Double(Float.greatestFiniteMagnitude) else {
            return nil
        }
        self.init(d)
    }
}

extension Double: TensorElement {
    static var allowed: String { "FP64 data holds numbers only" }
    init?(json n: UnsafeRawBufferPointer.SubSequence) {
        guard let d = JSONReader.double(n), d.isFinite else { return nil }
        self = d
    }
}

/// `POST /v2/repository/models/{name}/load`'s optional body: `{"parameters": {"version": N}}`
/// loads (or swaps in) that version instead of the latest; an empty body asks for the latest.
struct LoadRequest: Decodable {
    var parameters: Parameters?

    struct Parameters: Decodable {
        var version: Int?

        enum CodingKeys: String, CodingKey, CaseIterable { case version }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            version = try decoder.container(keyedBy: CodingKeys.self).strict(Int.self, forKey: .version)
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case parameters }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        parameters = try decoder.container(keyedBy: CodingKeys.self).strict(Parameters.self, forKey: .parameters)
    }

    /// The version asked for (nil: the latest), or the refusal.
    static func decode(_ request: Request) async -> Result<Int?, BodyRefusal> {
        let body: ByteBuffer
        switch (try? await ControlPlane.collect(request)) ?? .failure(ControlPlane.tooLarge) {
        case .success(let b): body = b
        case .failure(let refusal): return .failure(refusal)
        }
        guard body.readableBytes > 0 else { return .success(nil) }
        switch RequestDecoding.decode(
            LoadRequest.self, from: Data(body.readableBytesView), notAnObject: "the body must be a JSON object")
        {
        case .success(let r):
            if let v = r.parameters?.version, v < 0 {
                return .failure(BodyRefusal(.badRequest, "parameters.version: must be 0 or more"))
            }
            return .success(r.parameters?.version)
        case .failure(let refusal): return .failure(refusal)
        }
    }
}
