@preconcurrency internal import COpenVINO
import Synchronization

/// The OpenVINO runtime: reads models and lists devices.
///
/// `@unchecked Sendable`: OpenVINO documents `ov::Core` as safe to use from several threads;
/// the handle is immutable after creation and freed once, in deinit.
public final class InferenceCore: @unchecked Sendable {
    private let raw: OpaquePointer

    /// Starts the runtime.
    public init() throws(InferenceError) {
        var core: OpaquePointer?
        try check(ov_core_create(&core), .runtime, subject: "OpenVINO", "starting the runtime")
        guard let core else { throw InferenceError(.runtime, subject: "OpenVINO", message: "no core") }
        raw = core
    }

    deinit { ov_core_free(raw) }

    /// The OpenVINO version string.
    public static var version: String {
        var v = ov_version_t()
        guard ov_get_openvino_version(&v) == OK else { return "unknown" }
        defer { ov_version_free(&v) }
        return String(cString: v.buildNumber)
    }

    /// Devices OpenVINO can run on here (e.g. `["CPU"]`).
    public func availableDevices() throws(InferenceError) -> [String] {
        var list = ov_available_devices_t()
        try check(ov_core_get_available_devices(raw, &list), .runtime, subject: "OpenVINO", "listing devices")
        defer { ov_available_devices_free(&list) }
        return (0..<list.size).compactMap { list.devices[$0].map { String(cString: $0) } }
    }

    /// A device property as text (e.g. `FULL_DEVICE_NAME`).
    public func property(_ key: String, device: String) throws(InferenceError) -> String {
        var value: UnsafeMutablePointer<CChar>?
        try check(ov_core_get_property(raw, device, key, &value), .runtime, subject: device, "reading \(key)")
        defer { ov_free(value) }
        return value.map { String(cString: $0) } ?? ""
    }

    /// Reads a model file (IR `.xml`, ONNX, TFLite, TF frozen graph `.pb`).
    public func readModel(path: String) throws(InferenceError) -> Model {
        var model: OpaquePointer?
        // OpenVINO's TF frontend lets protobuf print parser diagnostics straight to fd 2; the
        // status and OpenVINO's own message say what matters, so keep the terminal clean.
        let status = withStandardErrorSilenced { ov_core_read_model(raw, path, nil, &model) }
        try check(status, .load, subject: path, "cannot read the model")
        guard let model else { throw InferenceError(.load, subject: path, message: "cannot read the model") }
        return try Model(raw: model, core: self, path: path)
    }

    func compile(
        _ model: OpaquePointer, device: String, config: [String: String], path: String
    ) throws(InferenceError) -> OpaquePointer {
        // Keys and values must stay alive for the call: copy them to C strings freed afterwards.
        let keys = config.keys.sorted()
        let cStrings = keys.flatMap { [strdup($0), strdup(config[$0]!)] }
        defer { cStrings.forEach { free($0) } }
        var props = (0..<keys.count).map { i in
            ov_property_t(key: UnsafePointer(cStrings[2 * i]), value: UnsafeRawPointer(cStrings[2 * i + 1]))
        }
        var compiled: OpaquePointer?
        try check(
            ov_core_compile_model_props(raw, model, device, props.count, &props, &compiled), .compile,
            subject: path, "compiling for \(device)")
        guard let compiled else { throw InferenceError(.compile, subject: path, message: "no compiled model") }
        return compiled
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// Serialises `withStandardErrorSilenced`: two overlapping redirections would restore each other's
/// /dev/null and silence the process for good.
private let standardErrorGate = Mutex(())

/// Runs `body` with file descriptor 2 pointed at /dev/null, then restores it.
func withStandardErrorSilenced(_ body: () -> ov_status_e) -> ov_status_e {
    standardErrorGate.withLock { _ in silencingStandardError(body) }
}

private func silencingStandardError(_ body: () -> ov_status_e) -> ov_status_e {
    fflush(stderr)
    let saved = dup(STDERR_FILENO)
    let null = open("/dev/null", O_WRONLY)
    guard saved >= 0, null >= 0 else { return body() }
    dup2(null, STDERR_FILENO)
    close(null)
    defer {
        fflush(stderr)
        dup2(saved, STDERR_FILENO)
        close(saved)
    }
    return body()
}
