/// How an engine is to use its device: one request at a time as fast as it can, or several in
/// flight sharing the device.
public enum PerformanceHint: String, Sendable {
    /// One request at a time, all of the device on it.
    case latency = "LATENCY"
    /// Several requests in flight, the device shared between them.
    case throughput = "THROUGHPUT"
}

/// Makes engines from model files on one backend: the seam a backend plugs into. The runtime
/// asks a loader for every version it serves and swaps in; it never names a backend itself.
public protocol EngineLoader: Sendable {
    /// Loads the model named by `path` (a model file with its sidecar, a sidecar, or a folder holding
    /// one) for `device`, checked against its sidecar; `name` and `version`, when given, replace the
    /// sidecar's in the engine's tag.
    func load(path: String, name: String?, version: String?, device: String, hint: PerformanceHint) throws
        -> any InferenceEngine
    /// What the device is, for the run's stats (its full name, capabilities, the backend's version).
    func deviceInfo(_ device: String) -> [String: String]
}
