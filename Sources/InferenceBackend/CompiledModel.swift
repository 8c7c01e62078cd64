@preconcurrency internal import COpenVINO

/// A model compiled for one device; makes inference requests.
///
/// `@unchecked Sendable`: OpenVINO's compiled models are thread-safe; the handle is
/// immutable and freed once, in deinit (after every request made from it, which holds it).
public final class CompiledModel: @unchecked Sendable {
    /// The model file.
    public let path: String
    /// The device it runs on.
    public let device: String
    /// Inputs, with the shapes fixed at compilation.
    public let inputs: [PortInfo]
    /// Outputs.
    public let outputs: [PortInfo]
    let raw: OpaquePointer

    init(raw: OpaquePointer, path: String, device: String, inputs: [PortInfo], outputs: [PortInfo]) {
        self.raw = raw
        self.path = path
        self.device = device
        self.inputs = inputs
        self.outputs = outputs
    }

    deinit { ov_compiled_model_free(raw) }

    /// How many requests in flight the device wants for best throughput.
    public func optimalRequests() -> Int {
        var value: UnsafeMutablePointer<CChar>?
        guard ov_compiled_model_get_property(raw, ov_property_key_optimal_number_of_infer_requests, &value) == OK,
            let value
        else { return 1 }
        defer { ov_free(value) }
        return Int(String(cString: value)) ?? 1
    }

    /// A new inference request with its own input and output buffers.
    public func makeRequest() throws(InferenceError) -> InferRequest {
        var request: OpaquePointer?
        try check(
            ov_compiled_model_create_infer_request(raw, &request), .compile, subject: path,
            "creating an inference request")
        guard let request else { throw InferenceError(.compile, subject: path, message: "no request") }
        return InferRequest(raw: request, model: self)
    }
}

/// One inference request: fill its input, run it, read its outputs.
///
/// Blocking: `infer()` runs the model on the calling thread; never call it from Swift's
/// cooperative pool. `@unchecked Sendable`: a request may move between threads, but its
/// owner must not use it from two threads at once (OpenVINO's own rule).
public final class InferRequest: @unchecked Sendable {
    private let raw: OpaquePointer
    /// The compiled model, kept alive as long as the request.
    public let model: CompiledModel

    init(raw: OpaquePointer, model: CompiledModel) {
        self.raw = raw
        self.model = model
    }

    deinit { ov_infer_request_free(raw) }

    /// Lends the bytes of input `index` (shaped as compiled) to `body`, to write the input in place.
    public func withInput<R>(
        _ index: Int = 0, _ body: (UnsafeMutableRawBufferPointer) throws -> R
    ) throws -> R {
        var tensor: OpaquePointer?
        try check(
            ov_infer_request_get_input_tensor_by_index(raw, index, &tensor), .infer, subject: model.path,
            "getting input \(index)")
        guard let tensor else { throw InferenceError(.infer, subject: model.path, message: "no input tensor") }
        let handle = TensorHandle(tensor)
        return try body(try handle.bytes(subject: model.path))
    }

    /// Runs the model on the current input; blocks until done.
    public func infer() throws(InferenceError) {
        try check(ov_infer_request_infer(raw), .infer, subject: model.path, "inference failed")
    }

    /// Starts the model on the current input without waiting; call `wait()` before reading outputs
    /// or touching the input again.
    public func startAsync() throws(InferenceError) {
        try check(ov_infer_request_start_async(raw), .infer, subject: model.path, "starting inference")
    }

    /// Blocks until a started inference finishes; throws if it failed.
    public func wait() throws(InferenceError) {
        try check(ov_infer_request_wait(raw), .infer, subject: model.path, "inference failed")
    }

    /// A copy of output `index`, converted to Float.
    public func output(at index: Int) throws(InferenceError) -> OutputTensor {
        var tensor: OpaquePointer?
        try check(
            ov_infer_request_get_output_tensor_by_index(raw, index, &tensor), .infer, subject: model.path,
            "getting output \(index)")
        guard let tensor else { throw InferenceError(.infer, subject: model.path, message: "no output tensor") }
        return try TensorHandle(tensor).floats(subject: model.path)
    }
}
