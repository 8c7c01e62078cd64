import Foundation

/// An `infer` request's JSON read in place from the body's bytes, so that a large request costs
/// little more than its body: each input's `data` list is parsed straight into a typed array
/// (`values`), and only the rest of the JSON, small, goes through `JSONDecoder` (with each `data`
/// replaced by `[]`). No tree of the document is ever built.
enum TensorScan {
    /// Lists nested deeper than this in a tensor's `data` are refused.
    static let maxDepth = 16
    /// JSON nested deeper than this is refused as not JSON (`JSONDecoder`'s own limit).
    static let maxJSONDepth = 512

    /// `json` with each `inputs[k].data` value replaced by `[]`, and where each value was, by `k`;
    /// nil when `json` is not JSON. A document that is not an object, or whose `inputs` is not a
    /// list, comes back whole (`JSONDecoder` says what is wrong with it).
    static func split(_ json: UnsafeRawBufferPointer) -> (header: Data, spans: [Int: Range<Int>])? {
        var r = JSONReader(bytes: json)
        var spans: [Int: Range<Int>] = [:]
        do throws(JSONReader.Malformed) {
            if r.peek() == UInt8(ascii: "{") {
                try r.members { r, key throws(JSONReader.Malformed) in
                    guard r.isKey(key, "inputs"), r.peek() == UInt8(ascii: "[") else { return try r.skipValue() }
                    try r.elements { r, k throws(JSONReader.Malformed) in
                        guard r.peek() == UInt8(ascii: "{") else { return try r.skipValue() }
                        try r.members { r, key throws(JSONReader.Malformed) in
                            guard r.isKey(key, "data") else { return try r.skipValue() }
                            r.skipSpace()
                            let start = r.index
                            try r.skipValue()
                            spans[k] = start..<r.index
                        }
                    }
                }
            } else {
                try r.skipValue()
            }
            r.skipSpace()
            guard r.index == json.count else { throw JSONReader.Malformed() }
        } catch {
            return nil
        }
        var header = Data()
        var at = 0
        for span in spans.values.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            header.append(contentsOf: json[at..<span.lowerBound])
            header.append(contentsOf: "[]".utf8)
            at = span.upperBound
        }
        header.append(contentsOf: json[at...])
        return (header, spans)
    }

    /// The numbers of the list at `span` of `json`, in order, however nested: exactly `count`
    /// of them (what `shape` holds), as `E`. Refusals name the key path (`at`, then indices).
    static func values<E: TensorElement>(
        _ type: E.Type, in json: UnsafeRawBufferPointer, at span: Range<Int>, shape: [Int], count: Int, path at: String
    ) throws(FieldError) -> [E] {
        var r = JSONReader(bytes: json, index: span.lowerBound)
        guard r.peek() == UInt8(ascii: "[") else { throw FieldError(path: at, "expected a list") }
        var values: [E] = []
        values.reserveCapacity(count)
        var indices: [Int] = []
        try list(&r, depth: 1, indices: &indices, count: count, into: &values, at: at)
        guard values.count == count else {
            throw FieldError(path: at, "\(values.count) values, but shape \(shape) holds \(count)")
        }
        return values
    }

    /// Appends the numbers of the list at `r` (`depth` lists deep, at `indices` in the data).
    private static func list<E: TensorElement>(
        _ r: inout JSONReader, depth: Int, indices: inout [Int], count: Int, into values: inout [E], at: String
    ) throws(FieldError) {
        func here(_ index: Int? = nil) -> String {
            at + (indices + (index.map { [$0] } ?? [])).map { "[\($0)]" }.joined()
        }
        guard depth <= maxDepth else { throw FieldError(path: here(), "lists nested more than \(maxDepth) deep") }
        r.index += 1
        if r.peek() == UInt8(ascii: "]") {
            r.index += 1
            return
        }
        var index = 0
        while let c = r.peek() {
            if c == UInt8(ascii: "[") {
                indices.append(index)
                try list(&r, depth: depth + 1, indices: &indices, count: count, into: &values, at: at)
                indices.removeLast()
            } else {
                guard let number = r.number(), let value = E(json: number) else {
                    throw FieldError(path: here(index), E.allowed)
                }
                guard values.count < count else {
                    throw FieldError(path: at, "more values than the shape holds (\(count))")
                }
                values.append(value)
            }
            index += 1
            // `split` checked the document: after a value comes `,` or `]`.
            let next = r.peek()
            r.index += 1
            if next != UInt8(ascii: ",") { return }
        }
    }
}

/// A cursor over JSON bytes that checks and skips values without building any.
struct JSONReader {
    struct Malformed: Error {}

    let bytes: UnsafeRawBufferPointer
    var index = 0

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next byte that is not white space, left unread.
    mutating func peek() -> UInt8? {
        skipSpace()
        return index < bytes.count ? bytes[index] : nil
    }

    mutating func expect(_ c: UInt8) throws(Malformed) {
        guard peek() == c else { throw Malformed() }
        index += 1
    }

    /// A string, its content's range (escapes left as they are).
    mutating func string() throws(Malformed) -> Range<Int> {
        try expect(UInt8(ascii: "\""))
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return start..<(index - 1)
            case UInt8(ascii: "\\"): index += 2
            case 0..<0x20: throw Malformed()
            default: index += 1
            }
        }
        throw Malformed()
    }

    /// Whether the key at `range` (of a string just read) is `name`, escapes decoded.
    func isKey(_ range: Range<Int>, _ name: String) -> Bool {
        let raw = bytes[range]
        guard raw.contains(UInt8(ascii: "\\")) else { return raw.elementsEqual(name.utf8) }
        let quoted = bytes[(range.lowerBound - 1)...range.upperBound]
        return (try? JSONDecoder().decode(String.self, from: Data(quoted))) == name
    }

    /// A number's bytes, or nil (the cursor unmoved) when none is here.
    mutating func number() -> UnsafeRawBufferPointer.SubSequence? {
        guard let first = peek(), first == UInt8(ascii: "-") || (0x30...0x39).contains(first) else { return nil }
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"),
                UInt8(ascii: "E"):
                index += 1
            default: return bytes[start..<index]
            }
        }
        return bytes[start..<index]
    }

    /// Each member of the object here, the cursor on its value: `body` reads or skips the value.
    mutating func members(_ body: (inout JSONReader, Range<Int>) throws(Malformed) -> Void) throws(Malformed) {
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            guard let next = peek() else { throw Malformed() }
            index += 1
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else { throw Malformed() }
        }
    }

    /// Each element of the list here, with its index, the cursor on it: `body` reads or skips it.
    mutating func elements(_ body: (inout JSONReader, Int) throws(Malformed) -> Void) throws(Malformed) {
        try expect(UInt8(ascii: "["))
        if peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        var k = 0
        while true {
            try body(&self, k)
            k += 1
            guard let next = peek() else { throw Malformed() }
            index += 1
            if next == UInt8(ascii: "]") { return }
            guard next == UInt8(ascii: ",") else { throw Malformed() }
        }
    }

    /// Skips one value, checking it.
    mutating func skipValue(depth: Int = 0) throws(Malformed) {
        guard depth < TensorScan.maxJSONDepth, let c = peek() else { throw Malformed() }
        switch c {
        case UInt8(ascii: "{"):
            try members { r, _ throws(Malformed) in try r.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try elements { r, _ throws(Malformed) in try r.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            guard let n = number(), Self.isNumber(n) else { throw Malformed() }
        }
    }

    /// Whether `n` is a JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isNumber(_ n: UnsafeRawBufferPointer.SubSequence) -> Bool {
        var i = n.startIndex
        func digits() -> Int {
            let start = i
            while i < n.endIndex, (0x30...0x39).contains(n[i]) { i += 1 }
            return i - start
        }
        if i < n.endIndex, n[i] == UInt8(ascii: "-") { i += 1 }
        let leadingZero = i < n.endIndex && n[i] == 0x30
        let whole = digits()
        guard whole > 0, !(leadingZero && whole > 1) else { return false }
        if i < n.endIndex, n[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < n.endIndex, n[i] == UInt8(ascii: "e") || n[i] == UInt8(ascii: "E") {
            i += 1
            if i < n.endIndex, n[i] == UInt8(ascii: "+") || n[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == n.endIndex
    }

    /// `n` (a JSON number) as a `Double`: integers of up to 15 digits read directly, others parsed.
    static func double(_ n: UnsafeRawBufferPointer.SubSequence) -> Double? {
        var i = n.startIndex
        let negative = n[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value = 0
        var digits = 0
        while i < n.endIndex, (0x30...0x39).contains(n[i]), digits < 15 {
            value = value * 10 + Int(n[i] - 0x30)
            i += 1
            digits += 1
        }
        if i == n.endIndex { return Double(negative ? -value : value) }
        return Double(Substring(decoding: n, as: UTF8.self))
    }

    private mutating func literal(_ word: StaticString) throws(Malformed) {
        let end = index + word.utf8CodeUnitCount
        guard end <= bytes.count,
            bytes[index..<end].elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        else {
            throw Malformed()
        }
        index = end
    }
}
