import Foundation
import Yams

// Decoding untrusted YAML and JSON into typed values: every mapping's keys checked against the
// type's `CodingKeys`, every value's type checked, and every problem one `ConfigIssue` naming the
// dotted key. These helpers work with `YAMLDecoder` and `JSONDecoder` alike.

/// A coding key that is any string (or index): what a mapping's keys are read with before they are
/// checked against a type's own `CodingKeys`, and the names of `nodes`.
package struct AnyCodingKey: CodingKey, Hashable {
    package let stringValue: String
    package let intValue: Int?

    package init(_ string: String) {
        stringValue = string
        intValue = nil
    }

    package init(stringValue: String) { self.init(stringValue) }

    package init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// A string as a config gives one: in YAML a scalar that resolves to a string (unquoted, `80`,
/// `true` and `~` are a number, a boolean and null; quoted, they are strings), in JSON a string.
/// Yams constructs it from the scalar itself (`ScalarConstructible`), so that its tag is seen.
package struct StringValue: Decodable, ScalarConstructible {
    package let value: String

    init(_ value: String) { self.value = value }

    package init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    package static func construct(from scalar: Node.Scalar) -> StringValue? {
        Resolver.default.resolveTag(of: .scalar(scalar)) == .str ? StringValue(scalar.string) : nil
    }
}

extension Decoder {
    /// The keys given in the mapping here, in the order the decoder has them (a YAML file's order).
    package func givenKeys() throws(ConfigIssue) -> [String] {
        do {
            return try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        } catch {
            throw ConfigIssue(at: codingPath, "must be a mapping of keys to values")
        }
    }

    /// Refuses a mapping with a key that `Keys` does not know (the first by name is named, with the
    /// keys known), or a value that is not a mapping. (A key given twice is refused by the parsers.)
    package func checkKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws(ConfigIssue) {
        let known = Keys.allCases.map(\.stringValue)
        if let unknown = try givenKeys().filter({ !known.contains($0) }).sorted().first {
            throw ConfigIssue.unknownKey(unknown, at: codingPath, known: known)
        }
    }

    /// The mapping here, read with `Keys` once `checkKeys` passed.
    package func mapping<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws(ConfigIssue) -> KeyedDecodingContainer<
        Keys
    > {
        try checkKeys(Keys.self)
        do {
            return try container(keyedBy: Keys.self)
        } catch {
            throw ConfigIssue(at: codingPath, "must be a mapping of keys to values")
        }
    }
}

extension KeyedDecodingContainer {
    /// An issue at `key`.
    package func issue(_ key: Key, _ message: String) -> ConfigIssue {
        ConfigIssue(at: codingPath + [key], message)
    }

    /// Whether `key` has a value: given, and not null.
    package func has(_ key: Key) -> Bool {
        contains(key) && (try? decodeNil(forKey: key)) == false
    }

    /// The value at `key` as `T`, nil when absent or null; any other value refused with `message`.
    package func optional<T: Decodable>(_: T.Type, _ key: Key, else message: String) throws(ConfigIssue) -> T? {
        guard has(key) else { return nil }
        do {
            return try decode(T.self, forKey: key)
        } catch {
            throw issue(key, message)
        }
    }

    /// A string (see `StringValue`).
    package func string(_ key: Key) throws(ConfigIssue) -> String? {
        try optional(StringValue.self, key, else: "must be a string")?.value
    }

    /// An integer.
    package func int(_ key: Key) throws(ConfigIssue) -> Int? {
        try optional(Int.self, key, else: "must be an integer")
    }

    /// A finite number (an integer is one too).
    package func number(_ key: Key) throws(ConfigIssue) -> Double? {
        guard let value = try optional(Double.self, key, else: "must be a number") else { return nil }
        guard value.isFinite else { throw issue(key, "must be a finite number") }
        return value
    }

    /// `true` or `false`.
    package func bool(_ key: Key) throws(ConfigIssue) -> Bool? {
        try optional(Bool.self, key, else: "must be true or false")
    }

    /// A list of integers.
    package func ints(_ key: Key) throws(ConfigIssue) -> [Int]? {
        try optional([Int].self, key, else: "must be a list of integers")
    }

    /// A list of at most `limit` strings.
    package func strings(_ key: Key, atMost limit: Int) throws(ConfigIssue) -> [String]? {
        guard let list = try optional([StringValue].self, key, else: "must be a list of strings") else { return nil }
        guard list.count <= limit else { throw issue(key, "give at most \(limit) entries, not \(list.count)") }
        return list.map(\.value)
    }

    /// An integer within `range`.
    package func int(_ key: Key, in range: ClosedRange<Int>) throws(ConfigIssue) -> Int? {
        guard let value = try int(key) else { return nil }
        guard range.contains(value) else { throw issue(key, "must be within \(range)") }
        return value
    }

    /// A time (a number, more than 0 and at most `limit`) as a `Duration`: `.seconds` or
    /// `.milliseconds` says in which unit it is given.
    package func duration(_ key: Key, atMost limit: Int, _ unit: (Double) -> Duration) throws(ConfigIssue) -> Duration?
    {
        guard let value = try number(key) else { return nil }
        guard value > 0, value <= Double(limit) else { throw issue(key, "must be more than 0 and at most \(limit)") }
        return unit(value)
    }
}

extension Duration {
    /// In seconds, as a `Double`.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
