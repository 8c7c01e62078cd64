import Core

/// A model version as one upload: a tar archive (POSIX ustar, what `tar -cf` and Python's
/// `tarfile` write) of the version folder's plain files, `model.json` and the files it names.
/// Read as it arrives, a chunk at a time, by a value with no I/O; untrusted throughout: only
/// regular files with plain names (an optional `./` before them), at most `maxFiles` of them, each
/// and all together within their limits; a link, a device, a path with a folder or `..`, a header
/// whose checksum is wrong, or an archive cut short is refused with the entry it concerns.
public struct VersionArchiveReader: Sendable {
    /// What the archive holds, in order.
    public enum Event: Sendable, Equatable {
        /// A file begins: its name and size.
        case file(name: String, size: Int)
        /// Some of the file's bytes.
        case data([UInt8])
        /// The archive ended properly (its end blocks).
        case end
    }

    /// The most files a version may hold (an ONNX model with its external weights may be several).
    public var maxFiles = 64
    /// The largest file, bytes.
    public var maxFileBytes: Int
    /// The most bytes of files in all.
    public var maxTotalBytes: Int

    private enum State: Sendable {
        /// Collecting a 512-byte header.
        case header
        /// Inside a file: bytes left of it, then its padding.
        case body(left: Int, padding: Int)
        /// Inside a pax extended header (its records are collected).
        case pax(left: Int, padding: Int, global: Bool)
        /// Past the end: only zeros may follow.
        case ended
    }

    private var state = State.header
    private var pending: [UInt8] = []
    private var paxRecords: [UInt8] = []
    /// A `path` a pax header gave for the next entry.
    private var paxPath: String?
    private var paxSize: Int?
    private var files = 0
    private var total = 0
    private var names: Set<String> = []
    private var zeroBlocks = 0

    public init(maxFileBytes: Int, maxTotalBytes: Int) {
        self.maxFileBytes = maxFileBytes
        self.maxTotalBytes = maxTotalBytes
    }

    /// Feeds the next bytes; returns what they complete, in order.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(ArchiveError) -> [Event] {
        var events: [Event] = []
        var input = ArraySlice(bytes)
        while !input.isEmpty {
            switch state {
            case .header, .ended:
                let take = min(512 - pending.count, input.count)
                pending += input.prefix(take)
                input = input.dropFirst(take)
                guard pending.count == 512 else { continue }
                let block = pending
                pending.removeAll(keepingCapacity: true)
                if let event = try header(block) { events.append(event) }
            case .body(let left, let padding):
                if left > 0 {
                    let take = min(left, input.count)
                    events.append(.data(Array(input.prefix(take))))
                    input = input.dropFirst(take)
                    state = .body(left: left - take, padding: padding)
                } else {
                    let take = min(padding, input.count)
                    input = input.dropFirst(take)
                    state = padding - take == 0 ? .header : .body(left: 0, padding: padding - take)
                }
            case .pax(let left, let padding, let global):
                if left > 0 {
                    let take = min(left, input.count)
                    paxRecords += input.prefix(take)
                    input = input.dropFirst(take)
                    state = .pax(left: left - take, padding: padding, global: global)
                    if left - take == 0, !global { try readPax() }
                } else {
                    let take = min(padding, input.count)
                    input = input.dropFirst(take)
                    state = padding - take == 0 ? .header : .pax(left: 0, padding: padding - take, global: global)
                }
            }
        }
        return events
    }

    /// The input is over: the archive must be whole.
    public func finish() throws(ArchiveError) -> Event {
        switch state {
        case .ended:
            guard files > 0 else { throw ArchiveError("the archive holds no file") }
            guard pending.allSatisfy({ $0 == 0 }) else { throw ArchiveError("data after the archive's end") }
            return .end
        case .header where pending.isEmpty:
            // Its end blocks say it is whole: an archive cut between two entries would pass for one.
            throw ArchiveError("the archive has no end (cut short after \(files) files?)")
        case .body(let left, _) where left > 0:
            throw ArchiveError("the archive ends inside a file (\(left) bytes short)")
        default:
            throw ArchiveError("the archive is cut short")
        }
    }

    private mutating func header(_ block: [UInt8]) throws(ArchiveError) -> Event? {
        if block.allSatisfy({ $0 == 0 }) {
            zeroBlocks += 1
            if case .header = state, zeroBlocks >= 1 { state = .ended }
            return nil
        }
        if case .ended = state { throw ArchiveError("data after the archive's end") }
        zeroBlocks = 0
        let stored = Self.octal(block[148..<156])
        let sum = block.enumerated().reduce(0) { $0 + (148..<156 ~= $1.offset ? 32 : Int($1.element)) }
        guard stored == sum else { throw ArchiveError("a header's checksum is wrong (not a tar archive?)") }
        guard block[257..<262].elementsEqual("ustar".utf8) else {
            throw ArchiveError("not a POSIX (ustar) tar archive")
        }
        var name = Self.text(block[0..<100])
        let prefix = Self.text(block[345..<500])
        if !prefix.isEmpty { name = prefix + "/" + name }
        guard var size = Self.octal(block[124..<136]), size >= 0 else {
            throw ArchiveError("\(name.prefix(100)): its size is not a number")
        }
        let type = block[156]
        switch type {
        case UInt8(ascii: "x"), UInt8(ascii: "g"):
            guard size <= 64 << 10 else { throw ArchiveError("an extended header over 64 KiB") }
            paxRecords = []
            state = .pax(left: size, padding: Self.padding(size), global: type == UInt8(ascii: "g"))
            if size == 0, type == UInt8(ascii: "x") { try readPax() }
            return nil
        case UInt8(ascii: "0"), 0, UInt8(ascii: "5"):
            break
        default:
            let what: String =
                switch type {
                case UInt8(ascii: "1"): "a hard link"
                case UInt8(ascii: "2"): "a symbolic link"
                case UInt8(ascii: "3"), UInt8(ascii: "4"): "a device"
                case UInt8(ascii: "6"): "a FIFO"
                default: "an entry of type '\(Character(Unicode.Scalar(type)))'"
                }
            throw ArchiveError("\(name.prefix(100)): \(what); a version holds plain files only")
        }
        if let path = paxPath { name = path }
        if let override = paxSize { size = override }
        paxPath = nil
        paxSize = nil
        if name.hasPrefix("./") { name.removeFirst(2) }
        if type == UInt8(ascii: "5") {
            // The archive's own top folder (`tar -C DIR -cf - .`) is allowed; no other folder.
            guard name.isEmpty || name == "." || name == "/", size == 0 else {
                throw ArchiveError("\(name.prefix(100)): a folder; a version holds plain files only")
            }
            state = .header
            return nil
        }
        guard Self.isPlainName(name) else {
            throw ArchiveError("\(name.prefix(100)): not a plain file name (no folder, no '..', 1-100 characters)")
        }
        guard names.insert(name).inserted else { throw ArchiveError("\(name): twice in the archive") }
        files += 1
        guard files <= maxFiles else { throw ArchiveError("more than \(maxFiles) files", tooLarge: true) }
        guard size <= maxFileBytes else {
            throw ArchiveError("\(name): \(size) bytes is over \(maxFileBytes)", tooLarge: true)
        }
        total += size
        guard total <= maxTotalBytes else {
            throw ArchiveError("over \(maxTotalBytes) bytes of files in all", tooLarge: true)
        }
        state = size == 0 ? .header : .body(left: size, padding: Self.padding(size))
        return .file(name: name, size: size)
    }

    /// `LEN key=value\n` records: `path` and `size` are taken, the rest (times, owners) ignored.
    private mutating func readPax() throws(ArchiveError) {
        var rest = paxRecords[...]
        while !rest.isEmpty {
            // `LEN ` then at least `k=` and the newline that ends it, all within what is left.
            guard let space = rest.firstIndex(of: UInt8(ascii: " ")), space - rest.startIndex <= 20,
                let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)),
                length >= space - rest.startIndex + 4, length <= rest.count,
                rest[rest.startIndex + length - 1] == UInt8(ascii: "\n")
            else { throw ArchiveError("an extended header's record is malformed") }
            let record = rest[(space + 1)..<(rest.startIndex + length - 1)]
            rest = rest.dropFirst(length)
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = String(decoding: record[record.startIndex..<eq], as: UTF8.self)
            let value = String(decoding: record[(eq + 1)...], as: UTF8.self)
            switch key {
            case "path": paxPath = value
            case "size":
                guard let n = Int(value), n >= 0 else {
                    throw ArchiveError("an extended header's size is not a number")
                }
                paxSize = n
            default: break
            }
        }
        paxRecords = []
    }

    /// 1-100 bytes of printable ASCII (spaces too, not at either end), no `/` or `\\`, not
    /// starting with `.` (so neither `.` nor `..`).
    public static func isPlainName(_ name: String) -> Bool {
        guard (1...100).contains(name.utf8.count), !name.hasPrefix("."), !name.hasPrefix(" "), !name.hasSuffix(" ")
        else { return false }
        return name.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\\") }
    }

    public static func padding(_ size: Int) -> Int { (512 - size % 512) % 512 }

    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal field (spaces and NULs around it); GNU's base-256 form for large sizes too.
    static func octal(_ bytes: ArraySlice<UInt8>) -> Int? {
        if let first = bytes.first, first & 0x80 != 0 {
            var value = Int(first & 0x7f)
            for byte in bytes.dropFirst() {
                guard value < Int.max >> 8 else { return nil }
                value = value << 8 | Int(byte)
            }
            return value
        }
        let digits = bytes.drop { $0 == 0x20 || $0 == 0 }.prefix { $0 != 0x20 && $0 != 0 }
        guard !digits.isEmpty, digits.count <= 21 else { return digits.isEmpty ? 0 : nil }
        var value = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(d - UInt8(ascii: "0"))
        }
        return value
    }
}

/// Writes a version's files as the archive `VersionArchiveReader` reads: a ustar header before
/// each file, its bytes padded to 512, two zero blocks at the end.
public enum VersionArchiveWriter {
    /// The header of a file `name` (a plain name) of `size` bytes.
    public static func header(name: String, size: Int) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (i, byte) in text.utf8.prefix(width).enumerated() { block[offset + i] = byte }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(0o644, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(0, at: 136, width: 12)
        block[156] = UInt8(ascii: "0")
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        for i in 148..<156 { block[i] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: max(0, 6 - digits.count)) + digits, at: 148, width: 6)
        block[154] = 0
        block[155] = 0x20
        return block
    }

    /// The zeros after a file of `size` bytes.
    public static func padding(after size: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: VersionArchiveReader.padding(size))
    }

    /// The archive's end.
    public static let end = [UInt8](repeating: 0, count: 1024)
}

/// An archive refused: what is wrong, naming the entry.
public struct ArchiveError: Error, CustomStringConvertible, Sendable, Equatable, CodedError {
    public var description: String
    /// Refused for its size (a file, or all of them, over the bounds), not its form.
    public var tooLarge: Bool
    public init(_ description: String, tooLarge: Bool = false) {
        self.description = description
        self.tooLarge = tooLarge
    }
    public var errorCode: ErrorCode { .invalid }
}
