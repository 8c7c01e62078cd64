@preconcurrency internal import COpenVINO

/// A model read from disk, before compilation. Reshape it, then compile it for a device.
public final class Model {
    /// The file it came from.
    public let path: String
    /// The model's inputs.
    public private(set) var inputs: [PortInfo]
    /// The model's outputs.
    public let outputs: [PortInfo]
    private let raw: OpaquePointer
    private let core: InferenceCore

    init(raw: OpaquePointer, core: InferenceCore, path: String) throws(InferenceError) {
        self.raw = raw
        self.core = core
        self.path = path
        do {
            inputs = try Self.ports(raw, input: true, path: path)
            outputs = try Self.ports(raw, input: false, path: path)
        } catch {
            ov_model_free(raw)
            throw error
        }
    }

    deinit { ov_model_free(raw) }

    /// The input or output known by `name` (any of a tensor's names; `:0` may be left off), or nil.
    public func port(named name: String, input: Bool) -> PortInfo? {
        for candidate in [name, name + ":0"] {
            var port: OpaquePointer?
            let status =
                input
                ? ov_model_const_input_by_name(raw, candidate, &port)
                : ov_model_const_output_by_name(raw, candidate, &port)
            guard status == OK, let port else { continue }
            defer { ov_output_const_port_free(port) }
            if let info = try? portInfo(port, path: path) { return info }
        }
        return nil
    }

    /// Fixes the shape of input `name` (e.g. `[B, 300, 300, 3]`).
    public func reshape(input name: String, to dims: [Int]) throws(InferenceError) {
        let resolved = port(named: name, input: true)?.name ?? name
        var shape = ov_partial_shape_t()
        let values = dims.map { Int64($0) }
        try check(
            ov_partial_shape_create_static(Int64(values.count), values, &shape), .shape, subject: path,
            "making shape \(dims)")
        defer { ov_partial_shape_free(&shape) }
        try check(
            ov_model_reshape_input_by_name(raw, resolved, shape), .shape, subject: path,
            "input \(name) cannot take shape \(dims)")
        inputs = try Self.ports(raw, input: true, path: path)
    }

    /// Compiles for `device` (e.g. `"CPU"`) with OpenVINO properties such as `PERFORMANCE_HINT`.
    public func compile(device: String = "CPU", config: [String: String] = [:]) throws(InferenceError) -> CompiledModel
    {
        let compiled = try core.compile(raw, device: device, config: config, path: path)
        return CompiledModel(raw: compiled, path: path, device: device, inputs: inputs, outputs: outputs)
    }

    private static func ports(_ model: OpaquePointer, input: Bool, path: String) throws(InferenceError) -> [PortInfo] {
        var count = 0
        try check(
            input ? ov_model_inputs_size(model, &count) : ov_model_outputs_size(model, &count), .load,
            subject: path, "counting ports")
        var result: [PortInfo] = []
        for index in 0..<count {
            var port: OpaquePointer?
            try check(
                input
                    ? ov_model_const_input_by_index(model, index, &port)
                    : ov_model_const_output_by_index(model, index, &port), .load, subject: path,
                "reading port \(index)")
            guard let port else { continue }
            defer { ov_output_const_port_free(port) }
            result.append(try portInfo(port, path: path))
        }
        return result
    }
}

func portInfo(_ port: OpaquePointer, path: String) throws(InferenceError) -> PortInfo {
    var name: UnsafeMutablePointer<CChar>?
    try check(ov_port_get_any_name(port, &name), .load, subject: path, "reading a port name")
    defer { ov_free(name) }
    var type = ov_element_type_e(0)
    try check(ov_port_get_element_type(port, &type), .load, subject: path, "reading a port type")
    var partial = ov_partial_shape_t()
    try check(ov_port_get_partial_shape(port, &partial), .load, subject: path, "reading a port shape")
    defer { ov_partial_shape_free(&partial) }
    var dims: [Int?]?
    if partial.rank.min == partial.rank.max, partial.rank.min >= 0 {
        dims = (0..<Int(partial.rank.min)).map { i in
            let d = partial.dims[i]
            return d.min == d.max && d.min >= 0 ? Int(d.min) : nil
        }
    }
    return PortInfo(name: name.map { String(cString: $0) } ?? "", elementType: ElementType(type), shape: dims)
}
