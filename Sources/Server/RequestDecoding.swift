import EdgeNode
import Foundation
import HTTPTypes
import Hummingbird

/// Request bodies decoded into typed values: every key of an object checked, `null` never taken for
/// a value, an integer never taken from `2.5`, and every failure one line naming its key path
/// (`inputs[0].shape: ...`, `policy: expected a string`, `unknown key 'sizez' (known: ...)`).
enum RequestDecoding {
    /// `data` decoded as `T`, or the 400 that says why not; a body that is not JSON, or not an
    /// object, is refused with `notAnObject`.
    static func decode<T: Decodable>(
        _ type: T.Type, from data: Data, userInfo: [CodingUserInfoKey: Int] = [:], notAnObject: String
    ) -> Result<T, BodyRefusal> {
        let decoder = JSONDecoder()
        for (key, value) in userInfo { decoder.userInfo[key] = value }
        do {
            return .success(try decoder.decode(T.self, from: data))
        } catch {
            return .failure(BodyRefusal(.badRequest, message(for: error, notAnObject: notAnObject)))
        }
    }

    /// One line for a decoding failure: the key path, then what was wrong.
    static func message(for error: any Error, notAnObject: String) -> String {
        if let field = error as? FieldError { return field.description }
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .typeMismatch(let type, let context):
            return context.codingPath.isEmpty ? notAnObject : line(context.codingPath, "expected \(expected(type))")
        case .valueNotFound(let type, let context):
            return context.codingPath.isEmpty
                ? notAnObject : line(context.codingPath, "expected \(expected(type)), not null")
        case .keyNotFound(let key, let context):
            return line(context.codingPath + [key], "missing")
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? notAnObject : line(context.codingPath, context.debugDescription)
        @unknown default:
            return "\(error)"
        }
    }

    /// `inputs[0].shape`: keys joined with dots, array indices in brackets.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            // An array's index (JSONDecoder's "Index 3"), not an object's key that reads as a number.
            if let index = key.intValue, key.stringValue != String(index) {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text
    }

    static func line(_ codingPath: [any CodingKey], _ message: String) -> String {
        codingPath.isEmpty ? message : "\(path(codingPath)): \(message)"
    }

    /// What a value of `type` is, in a message: "an integer", "a string"...
    static func expected(_ type: Any.Type) -> String {
        switch type {
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is any BinaryInteger.Type: "an integer"
        case is any BinaryFloatingPoint.Type: "a number"
        default:
            // JSONDecoder names `[Any]` and `[String: Any]` for a list and an object it expected.
            String(describing: type).hasPrefix("Array<") ? "a list" : "an object"
        }
    }

    /// `text` cut to 80 characters on one line, for quoting what a client sent.
    static func quoted(_ text: String) -> String {
        String(text.prefix(80).map { $0.isNewline ? " " : $0 })
    }
}

/// A value a request may not hold, at its key path: what `RequestDecoding.message` reports as is.
struct FieldError: Error, CustomStringConvertible {
    /// `inputs[0].data` (empty: the whole body).
    var path: String
    var message: String

    init(at codingPath: [any CodingKey], _ message: String) {
        self.init(path: RequestDecoding.path(codingPath), message)
    }

    init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// A request refused before it does anything: its status and the one-line reason.
struct BodyRefusal: Error {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The refusal as the control plane answers errors: `{"error": "..."}`.
    var response: Response { ControlPlane.error(status, message) }
}

extension Decoder {
    /// Throws for a key of the object being decoded that `Keys` does not name:
    /// "unknown key 'x' (known: a, b)", at the object's key path.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let known = Keys.allCases.map(\.stringValue)
        let given = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        if let unknown = given.sorted().first(where: { !known.contains($0) }) {
            throw FieldError(
                at: codingPath,
                "unknown key '\(RequestDecoding.quoted(unknown))' (known: \(known.joined(separator: ", ")))")
        }
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, nil when the object has no such key. `null` is refused (a key given
    /// holds a value), and so is a number that `T` cannot hold exactly (`2.5` for an integer, `300`
    /// for a `UInt8`): "key: expected an integer". `2` is a fine `Double`.
    func strict<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else { return nil }
        do {
            return try decode(T.self, forKey: key)
        } catch let error as DecodingError {
            throw error
        } catch let error where T.self is any BinaryInteger.Type || T.self is any BinaryFloatingPoint.Type {
            // JSONDecoder reports a number that does not fit as the whole body not being JSON.
            throw DecodingError.typeMismatch(
                T.self, .init(codingPath: codingPath + [key], debugDescription: "\(error)", underlyingError: error))
        }
    }

    /// A list of integers at `key` (a tensor's shape), each one checked: "shape[1]: expected an integer".
    func integers(forKey key: Key) throws -> [Int] {
        var list = try nestedUnkeyedContainer(forKey: key)
        var values: [Int] = []
        while !list.isAtEnd {
            let index = list.currentIndex
            do {
                values.append(try list.decode(Int.self))
            } catch {
                throw FieldError(path: RequestDecoding.path(list.codingPath) + "[\(index)]", "expected an integer")
            }
        }
        return values
    }
}
