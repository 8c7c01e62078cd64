import Foundation
import InferenceBackend
import Vision

/// A model ready to run: its sidecar, the OpenVINO model checked against it, and one compiled
/// model with its request per batch size used.
///
/// Blocking and single-threaded: use it from the inference thread only. `@unchecked Sendable`
/// so that it can be handed to that thread once; nothing else touches it afterwards.
public final class OpenVINOEngine: InferenceEngine, @unchecked Sendable {
    /// The sidecar.
    public let spec: ModelSpec

    /// The sidecar's tensor name of each output role.
    public var outputNames: [String: String] { spec.outputs }
    /// The model file.
    public let modelFile: String
    /// Reads outputs into detections.
    public let decoder: any OutputDecoder
    /// The device inference runs on.
    public let device: String
    private let model: InferenceBackend.Model
    private let inputName: String
    /// Output index per decoder role.
    private let outputIndex: [String: Int]
    private var pools: [Int: [RequestSlot]] = [:]
    private let config: [String: String]

    /// Loads the model named by `path` (a model file with its sidecar beside it, a sidecar, or a
    /// folder holding one) and checks that the model's inputs and outputs match the sidecar. `name` and
    /// `version`, when given (a repository's model folder and version number), replace the sidecar's
    /// in the tag.
    public init(
        path: String, core: InferenceCore, device: String = "CPU", config: [String: String] = [:],
        name: String? = nil, version: String? = nil
    ) throws {
        var (spec, modelFile) = try ModelSpec.load(path: path)
        if let name { spec.name = name }
        if let version { spec.version = version }
        guard FileManager.default.fileExists(atPath: modelFile) else {
            throw ModelSpecError(path: modelFile, message: "model file missing (named by the sidecar's \"file\")")
        }
        self.spec = spec
        self.modelFile = modelFile
        self.device = device
        self.config = config.isEmpty ? ["PERFORMANCE_HINT": "LATENCY"] : config
        decoder = try makeDecoder(for: spec)
        model = try core.readModel(path: modelFile)

        func mismatch(_ message: String) -> ModelSpecError {
            ModelSpecError(path: modelFile, message: "does not match its sidecar: \(message)")
        }
        guard let input = model.port(named: spec.input.name, input: true) else {
            throw mismatch(
                "no input \"\(spec.input.name)\" (inputs: \(model.inputs.map(\.description).joined(separator: ", ")))")
        }
        guard input.elementType.description == spec.input.type.rawValue else {
            throw mismatch("input \(input.name) is \(input.elementType), sidecar says \(spec.input.type)")
        }
        let expected = Self.inputShape(spec, batch: nil)
        if let dims = input.shape {
            let fits =
                dims.count == expected.count
                && zip(dims, expected).allSatisfy { have, want in have == nil || want == nil || have == want }
            guard fits else {
                let shown = dims.map { $0.map(String.init) ?? "?" }.joined(separator: ",")
                throw mismatch(
                    "input \(input.name) has shape [\(shown)], sidecar wants \(spec.input.layout) \(spec.input.width)x\(spec.input.height)x3"
                )
            }
        }
        inputName = input.name
        var indices: [String: Int] = [:]
        for role in decoder.requiredRoles {
            guard let name = spec.outputs[role] else { throw mismatch("sidecar names no \"\(role)\" output") }
            guard let port = model.port(named: name, input: false),
                let index = model.outputs.firstIndex(where: { $0.name == port.name })
            else {
                throw mismatch(
                    "no output \"\(name)\" for \(role) (outputs: \(model.outputs.map(\.description).joined(separator: ", ")))"
                )
            }
            indices[role] = index
        }
        outputIndex = indices
    }

    /// The input shape for batch `batch`, in the sidecar's layout.
    static func inputShape(_ spec: ModelSpec, batch: Int?) -> [Int?] {
        spec.input.layout == .nchw
            ? [batch, 3, spec.input.height, spec.input.width]
            : [batch, spec.input.height, spec.input.width, 3]
    }

    /// `name@version`.
    public var tag: String { spec.tag }

    /// `count` requests for batch size `batch`, compiling the model for that size on first use.
    public func slots(batch: Int, count: Int) throws -> [any EngineSlot] {
        var pool = pools[batch] ?? []
        if pool.count < count {
            let compiled: CompiledModel
            if let first = pool.first {
                compiled = first.request.model
            } else {
                try model.reshape(input: inputName, to: Self.inputShape(spec, batch: batch).map { $0! })
                compiled = try model.compile(device: device, config: config)
            }
            while pool.count < count { pool.append(RequestSlot(try compiled.makeRequest(), outputIndex: outputIndex)) }
            pools[batch] = pool
        }
        return Array(pool.prefix(count))
    }

    /// One inference on a blank frame in every request of every size (all requests of a size at
    /// once): a request's first inference allocates, and would otherwise stall the stream the first
    /// time the batch size manager tries its size.
    public func warmUp(sizes: [Int], requests: Int) throws {
        for size in sizes { _ = try runBlank(size: size, requests: requests) }
    }

    /// How many requests in flight OpenVINO suggests for the device.
    public func suggestedSlots(batch: Int) throws -> Int {
        _ = try slots(batch: batch, count: 1)
        return pools[batch]![0].request.model.optimalRequests()
    }

    /// The input the model takes.
    public var input: ModelSpec.InputSpec { spec.input }
}

/// An OpenVINO request as an engine slot.
final class RequestSlot: EngineSlot {
    let request: InferRequest
    private let outputIndex: [String: Int]

    init(_ request: InferRequest, outputIndex: [String: Int]) {
        self.request = request
        self.outputIndex = outputIndex
    }

    func fill(_ inputs: [[UInt8]]) throws {
        try request.withInput(0) { tensor in
            var offset = 0
            for bytes in inputs {
                precondition(offset + bytes.count <= tensor.count, "batch larger than the input tensor")
                bytes.withUnsafeBytes {
                    tensor.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
                }
                offset += bytes.count
            }
        }
    }

    func start() throws { try request.startAsync() }

    func wait() throws { try request.wait() }

    func outputs() throws -> [String: FloatTensor] {
        var outputs: [String: FloatTensor] = [:]
        for (role, index) in outputIndex {
            let t = try request.output(at: index)
            outputs[role] = FloatTensor(shape: t.shape, values: t.values)
        }
        return outputs
    }
}
