import Foundation

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
    /// request: `maxTensorValues` in the decoder's `userInfo`), and its data against the shape.
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
            guard c.contains(.data) else {
                data = nil
                return
            }
            let values = try c.superDecoder(forKey: .data)
            switch datatype {
            case "UINT8": data = .uint8(try Flattening.values(UInt8.self, from: values, shape: shape, count: count))
            case "FP32": data = .fp32(try Flattening.values(Float.self, from: values, shape: shape, count: count))
            case "FP64": data = .fp64(try Flattening.values(Double.self, from: values, shape: shape, count: count))
            default: data = nil
            }
        }
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

/// A number of a tensor's data, and what its datatype allows, as a refusal says it.
protocol TensorElement: Decodable {
    static var allowed: String { get }
}

extension UInt8: TensorElement {
    static var allowed: String { "UINT8 data holds integers 0...255 only" }
}

extension Float: TensorElement {
    static var allowed: String { "FP32 data holds numbers within FP32's range only" }
}

extension Double: TensorElement {
    static var allowed: String { "FP64 data holds numbers only" }
}

/// A tensor's `data`, nested lists of numbers, read into one flat array without any `Any` between.
enum Flattening {
    /// Lists nested deeper than this are refused.
    static let maxDepth = 16

    /// The numbers of the list `decoder` holds, in order, however nested: exactly `count` of them
    /// (the number that `shape` holds), as `E`.
    static func values<E: TensorElement>(_ type: E.Type, from decoder: any Decoder, shape: [Int], count: Int) throws
        -> [E]
    {
        var values: [E] = []
        values.reserveCapacity(count)
        var root = try decoder.unkeyedContainer()
        var leafDepth: Int?
        let at = RequestDecoding.path(decoder.codingPath)
        try flatten(&root, depth: 1, count: count, into: &values, leafDepth: &leafDepth, at: at)
        guard values.count == count else {
            throw FieldError(path: at, "\(values.count) values, but shape \(shape) holds \(count)")
        }
        return values
    }

    /// Appends the numbers of `list` (`depth` lists deep) to `values`. `leafDepth`, the depth the
    /// first number came at, says what to try first at each depth (a number or a list), so that a
    /// regular tensor's lists cost no failed attempt past the first element of each depth. `at`:
    /// the data's key path, for the refusal of too many values.
    static func flatten<E: TensorElement>(
        _ list: inout any UnkeyedDecodingContainer, depth: Int, count: Int, into values: inout [E],
        leafDepth: inout Int?, at: String
    ) throws {
        guard depth <= maxDepth else {
            throw FieldError(at: list.codingPath, "lists nested more than \(maxDepth) deep")
        }
        while !list.isAtEnd {
            let index = list.currentIndex
            if leafDepth != nil && leafDepth != depth, var nested = try? list.nestedUnkeyedContainer() {
                try flatten(&nested, depth: depth + 1, count: count, into: &values, leafDepth: &leafDepth, at: at)
                continue
            }
            let value: E
            do {
                value = try list.decode(E.self)
            } catch {
                guard var nested = try? list.nestedUnkeyedContainer() else {
                    throw FieldError(path: RequestDecoding.path(list.codingPath) + "[\(index)]", E.allowed)
                }
                try flatten(&nested, depth: depth + 1, count: count, into: &values, leafDepth: &leafDepth, at: at)
                continue
            }
            guard values.count < count else {
                throw FieldError(path: at, "more values than the shape holds (\(count))")
            }
            values.append(value)
            leafDepth = depth
        }
    }
}
