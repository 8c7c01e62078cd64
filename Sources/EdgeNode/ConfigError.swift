import Core
import Foundation

/// A config (or request body) that cannot be used: one line naming the file and the key.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or `request body`).
    public let file: String
    /// The key, dotted (`streams[1].id`); nil for the whole file.
    public let key: String?
    /// What is wrong.
    public let message: String

    /// A problem of `key` (nil: the file as a whole) in `file`.
    public init(file: String, key: String?, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    /// `issue`, found in `file`.
    package init(file: String, _ issue: ConfigIssue) {
        self.init(file: file, key: issue.key, issue.message)
    }

    /// `file: key: message`.
    public var description: String { [file, key, message].compactMap { $0 }.joined(separator: ": ") }
}

/// A problem found while decoding a config or a request body: the dotted key and what is wrong, in
/// one line. The decoders do not know the file; whoever decodes makes it a `ConfigError`.
package struct ConfigIssue: Error, Equatable, CustomStringConvertible {
    /// The key, dotted (`nodes.edge-01.streams[0].id`); nil for the whole document.
    package let key: String?
    /// What is wrong.
    package let message: String

    package init(key: String?, _ message: String) {
        self.key = key
        self.message = Self.firstLine(message)
    }

    /// `key: message`.
    package var description: String { [key, message].compactMap { $0 }.joined(separator: ": ") }

    /// A problem at `path`.
    package init(at path: [any CodingKey], _ message: String) {
        self.init(key: Self.dotted(path), message)
    }

    /// Any error of decoding as an issue: its own, or a `DecodingError` with its key and a short message.
    package init(_ error: any Error) {
        if let issue = error as? ConfigIssue {
            self = issue
            return
        }
        guard let error = error as? DecodingError else {
            self.init(key: nil, "\(error)")
            return
        }
        switch error {
        case .typeMismatch(let type, let context):
            self.init(at: context.codingPath, "must be \(Self.noun(type))")
        case .valueNotFound(_, let context):
            self.init(at: context.codingPath, "missing")
        case .keyNotFound(let key, let context):
            self.init(at: context.codingPath + [key], "missing")
        case .dataCorrupted(let context):
            self.init(at: context.codingPath, context.debugDescription)
        @unknown default:
            self.init(key: nil, "\(error)")
        }
    }

    /// `key`, an unknown key of the mapping at `path`, whose keys are `known`.
    static func unknownKey(_ key: String, at path: [any CodingKey], known: [String]) -> ConfigIssue {
        ConfigIssue(at: path + [AnyCodingKey(key)], "unknown key (known: \(known.joined(separator: ", ")))")
    }

    /// A coding path as the messages name it: `nodes.edge-01.streams[0].id`; nil when empty.
    static func dotted(_ path: [any CodingKey]) -> String? {
        let text = path.reduce(into: "") { text, key in
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text.isEmpty ? nil : text
    }

    /// What a value of `type` is, in a message: `an integer`, `a string`...
    static func noun(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type, is StringValue.Type: return "a string"
        default:
            let name = "\(type)"
            if name.contains("Dictionary") || name.contains("Mapping") { return "a mapping of keys to values" }
            if name.contains("Array") || name.contains("Sequence") { return "a list" }
            return "a \(name)"
        }
    }

    private static func firstLine(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? text
    }
}

/// Whether `path` names a folder.
func isDirectory(_ path: String) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
}

extension ConfigError: CodedError {
    /// A configuration (or a request shaped like one) that is wrong.
    public var errorCode: ErrorCode { .invalid }
}
