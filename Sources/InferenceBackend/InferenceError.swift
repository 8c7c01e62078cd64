@preconcurrency internal import COpenVINO
import Core

/// An error from the inference backend, naming the model or device and carrying OpenVINO's own message.
public struct InferenceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The runtime itself could not start.
        case runtime
        /// The model file is missing, unreadable or not a model.
        case load
        /// The model's inputs or outputs are not what the caller expects, or cannot take the shape asked for.
        case shape
        /// Compiling for the device failed.
        case compile
        /// An inference failed.
        case infer
    }

    /// The kind of failure.
    public let kind: Kind
    /// The model file or device concerned.
    public let subject: String
    /// A one-line explanation.
    public let message: String

    /// Creates an error about `subject`.
    public init(_ kind: Kind, subject: String, message: String) {
        self.kind = kind
        self.subject = subject
        self.message = message
    }

    /// `subject: message`, on one line.
    public var description: String { "\(subject): \(message)" }
}

/// Every OpenVINO status in this module goes through here: anything but OK becomes an `InferenceError`
/// with OpenVINO's last error message, reduced to one line.
func check(
    _ status: ov_status_e, _ kind: InferenceError.Kind, subject: String, _ what: @autoclosure () -> String
) throws(InferenceError) {
    guard status != OK else { return }
    var detail = ""
    if let last = ov_get_last_err_msg() { detail = String(cString: last) }
    if detail.isEmpty, let info = ov_get_error_info(status) { detail = String(cString: info) }
    throw InferenceError(kind, subject: subject, message: "\(what()): \(oneLine(detail))")
}

/// OpenVINO's messages span several lines with source locations; keep the informative part on one line.
func oneLine(_ text: String) -> String {
    let lines = text.split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: " \t") }
        .filter {
            !$0.isEmpty && !$0.hasPrefix("Check '") && !$0.contains("src/") && !$0.hasPrefix("[ GENERAL_ERROR ]")
        }
    let joined = (lines.isEmpty ? [text] : lines).joined(separator: " ")
    return String(joined.prefix(400))
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

extension InferenceError: CodedError {
    /// A model that cannot be read or does not fit is invalid input; anything else failed here.
    public var errorCode: ErrorCode { kind == .load || kind == .shape ? .invalid : .failed }
}
