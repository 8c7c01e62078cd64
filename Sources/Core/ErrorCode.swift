/// What kind of failure an error is, in one vocabulary for every layer: the runtime, the model
/// manager, the repository, the configuration and the node say which of these their errors are,
/// and only the server turns a code into an HTTP status (one mapping, `ControlPlane.status(of:)`).
///
/// A struct with static members rather than an enum, so that a layer can add a code without
/// breaking every `switch` over it (swift-kafka-client's `KafkaError.ErrorCode`).
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    private let name: String

    private init(_ name: String) { self.name = name }

    /// The input is wrong: a request, a configuration, a model file, an option (HTTP 400).
    public static let invalid = ErrorCode("invalid")
    /// What was named does not exist: a stream, a model, a version (HTTP 404).
    public static let notFound = ErrorCode("not-found")
    /// It cannot be done in the present state: a swap under way, an id taken, a limit reached (HTTP 409).
    public static let conflict = ErrorCode("conflict")
    /// Not now: loading, stopping, or too much waiting already; ask again (HTTP 503).
    public static let unavailable = ErrorCode("unavailable")
    /// The disk we write to is full (HTTP 507).
    public static let noSpace = ErrorCode("no-space")
    /// Something of ours failed: a stage, a device, a file we write (HTTP 500).
    public static let failed = ErrorCode("failed")

    /// The code's name.
    public var description: String { name }
}

/// An error that says which kind of failure it is.
public protocol CodedError: Error, CustomStringConvertible {
    /// The kind, for callers that map it (the server) without reading the message.
    var errorCode: ErrorCode { get }
}

extension ErrorCode {
    /// The code of `error`: its own when it has one, `failed` otherwise.
    public static func of(_ error: any Error) -> ErrorCode { (error as? any CodedError)?.errorCode ?? .failed }
}
