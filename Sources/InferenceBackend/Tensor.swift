@preconcurrency internal import COpenVINO

/// Element types the backend reads and writes.
public enum ElementType: Sendable, Equatable, CustomStringConvertible {
    case u8, f32, f16, i32, i64, other(Int)

    init(_ raw: ov_element_type_e) {
        switch raw {
        case U8: self = .u8
        case F32: self = .f32
        case F16: self = .f16
        case I32: self = .i32
        case I64: self = .i64
        default: self = .other(Int(raw.rawValue))
        }
    }

    /// The name used in sidecars and messages.
    public var description: String {
        switch self {
        case .u8: "u8"
        case .f32: "f32"
        case .f16: "f16"
        case .i32: "i32"
        case .i64: "i64"
        case .other(let v): "type#\(v)"
        }
    }
}

/// A model input or output: its tensor name, element type and shape (nil for a dynamic dimension).
public struct PortInfo: Sendable, Equatable, CustomStringConvertible {
    /// The tensor name (OpenVINO's `any_name`).
    public var name: String
    /// Element type.
    public var elementType: ElementType
    /// Dimensions; nil where dynamic. Nil as a whole when even the rank is dynamic.
    public var shape: [Int?]?

    /// `name[1,?,?,3]:u8`.
    public var description: String {
        let dims = shape.map { "[" + $0.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]" } ?? "[...]"
        return "\(name)\(dims):\(elementType)"
    }
}

/// A copy of an output tensor, converted to Float.
public struct OutputTensor: Sendable {
    /// Dimensions.
    public var shape: [Int]
    /// Values in row-major order.
    public var values: [Float]
}

/// An owned `ov_tensor_t*`, freed on deinit.
final class TensorHandle {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { ov_tensor_free(raw) }

    func shape(subject: String) throws(InferenceError) -> [Int] {
        var shape = ov_shape_t()
        try check(ov_tensor_get_shape(raw, &shape), .infer, subject: subject, "reading a tensor shape")
        defer { ov_shape_free(&shape) }
        return (0..<Int(shape.rank)).map { Int(shape.dims[$0]) }
    }

    func elementType(subject: String) throws(InferenceError) -> ElementType {
        var type = ov_element_type_e(0)
        try check(ov_tensor_get_element_type(raw, &type), .infer, subject: subject, "reading a tensor type")
        return ElementType(type)
    }

    func bytes(subject: String) throws(InferenceError) -> UnsafeMutableRawBufferPointer {
        var data: UnsafeMutableRawPointer?
        var size = 0
        try check(ov_tensor_data(raw, &data), .infer, subject: subject, "reading tensor data")
        try check(ov_tensor_get_byte_size(raw, &size), .infer, subject: subject, "reading a tensor size")
        return UnsafeMutableRawBufferPointer(start: data, count: size)
    }

    func floats(subject: String) throws(InferenceError) -> OutputTensor {
        let shape = try shape(subject: subject)
        let type = try elementType(subject: subject)
        let bytes = try bytes(subject: subject)
        let count = shape.reduce(1, *)
        let values: [Float]
        switch type {
        case .f32: values = Array(bytes.bindMemory(to: Float.self).prefix(count))
        case .i32: values = bytes.bindMemory(to: Int32.self).prefix(count).map { Float($0) }
        case .i64: values = bytes.bindMemory(to: Int64.self).prefix(count).map { Float($0) }
        case .u8: values = bytes.prefix(count).map { Float($0) }
        case .f16:
            #if arch(x86_64) || arch(arm64)
                values = bytes.bindMemory(to: Float16.self).prefix(count).map { Float($0) }
            #else
                throw InferenceError(.infer, subject: subject, message: "f16 outputs are not supported on this CPU")
            #endif
        default:
            throw InferenceError(.infer, subject: subject, message: "cannot read \(type) output")
        }
        return OutputTensor(shape: shape, values: values)
    }
}
