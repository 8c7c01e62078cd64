import Core

// What a swap did, how it ended and why: the records the stats, the API and the CLI show.

/// One swap (or attempt), as logged and kept in the stats.
public struct SwapRecord: Sendable, Codable, Equatable {
    /// Its number in the run (1, 2, ...).
    public var id = 0
    /// Version serving when it was asked for.
    public var from: Int
    /// Version asked for.
    public var to: Int
    /// `request`, `watch`, `rollback` or `auto-rollback`.
    public var trigger: String
    /// Seconds into the run when it was asked for.
    public var requestedAt: Double
    /// Reading and checking the model (against its sidecar).
    public var loadSeconds: Double?
    /// Compiling it for the batch sizes in use and making its requests.
    public var compileSeconds: Double?
    /// One inference per batch size, outputs checked.
    public var warmupSeconds: Double?
    /// Seconds into the run of the switch point (nil: never switched).
    public var switchedAt: Double?
    /// Seconds frames waited with no inference running at the switch point.
    public var pauseSeconds: Double?
    /// How it ended (so far).
    public var outcome: SwapOutcome
    /// Why it was rejected, refused or rolled back, with the library's own message.
    public var reason: String?

    /// Request to switch point.
    public var totalSeconds: Double? { switchedAt.map { $0 - requestedAt } }

    enum CodingKeys: String, CodingKey {
        case id, from, to, trigger, outcome, reason
        case requestedAt = "requested_at_s"
        case loadSeconds = "load_s"
        case compileSeconds = "compile_s"
        case warmupSeconds = "warmup_s"
        case switchedAt = "switched_at_s"
        case pauseSeconds = "pause_s"
    }
}

/// A swap that did not happen, and why.
public struct ModelSwapError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure.
    public enum Code: String, Sendable {
        /// Refused before loading (busy, memory, the version serving, swaps unavailable).
        case refused
        /// Loading, compiling, validating or warming up the new version failed.
        case failed
        /// Loaded and waiting for the stream's next batch, which an idle stream has not reached:
        /// it serves from then on (not a failure).
        case staged
    }

    /// The kind.
    public let code: Code
    /// One line.
    public let message: String
    public init(_ message: String, code: Code = .failed) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}

/// How a model swap ended (its `outcome` in the stats and the control replies).
public enum SwapOutcome: String, Sendable, Codable, Equatable, CaseIterable, CustomStringConvertible {
    /// Loaded, compiled and warmed up; waiting for a batch boundary to take over.
    case staged
    /// It took over.
    case swapped
    /// It failed to load, compile, validate or warm up: the serving version never stopped.
    case rejected
    /// Refused before loading (busy, memory, the version serving).
    case refused
    /// It took over, failed at run time, and the previous version serves again.
    case rolledBack = "rolled-back"
    /// The run ended before its switch.
    case abandoned

    public var description: String { rawValue }
}

extension ModelSwapError: CodedError {
    /// Refused in the present state (a conflict), or the version itself is bad (invalid).
    public var errorCode: ErrorCode { code == .refused || code == .staged ? .conflict : .invalid }
}
