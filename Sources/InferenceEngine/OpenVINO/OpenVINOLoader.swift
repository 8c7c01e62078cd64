import InferenceBackend

/// Loads models with OpenVINO: one runtime core shared by every engine it makes.
///
/// `@unchecked Sendable`: OpenVINO's core is safe to use from several threads (its C API documents
/// `ov_core_read_model` and `ov_core_compile_model` as thread-safe); nothing else is stored.
public final class OpenVINOLoader: EngineLoader, @unchecked Sendable {
    private let core: InferenceCore

    /// Creates OpenVINO's core; throws when the runtime cannot start.
    public init() throws {
        core = try InferenceCore()
    }

    /// Loads and checks the model at `path` for `device`.
    public func load(path: String, name: String?, version: String?, device: String, hint: PerformanceHint) throws
        -> any InferenceEngine
    {
        try OpenVINOEngine(
            path: path, core: core, device: device, config: ["PERFORMANCE_HINT": hint.rawValue], name: name,
            version: version)
    }

    /// The device's full name, capabilities and type, and OpenVINO's version.
    public func deviceInfo(_ device: String) -> [String: String] {
        var info: [String: String] = ["device": device]
        for key in ["FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES", "DEVICE_TYPE"] {
            if let value = try? core.property(key, device: device), !value.isEmpty { info[key] = value }
        }
        info["OPENVINO_VERSION"] = InferenceCore.version
        return info
    }
}
