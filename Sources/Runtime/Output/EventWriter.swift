import Core
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one JSON line per frame to a file, and rotates it by size when asked: past `rotateBytes`,
/// the file is closed at a line's end and renamed `<path>.1` (older ones shifted to `.2`... and the
/// oldest past `keep` removed), and a new one begins. Lines are never split.
///
/// Lines are buffered and handed to the kernel by `flush` (the output stage flushes on an interval:
/// what a SIGKILL can take is what was buffered since the last flush, and nothing once flushed).
///
/// **A disk that refuses** (full, or an I/O error): the lines not yet written are kept, up to
/// `maxPending` bytes, and written in order once the disk takes them again (each `write` tries again
/// at most once per `retryInterval`); lines beyond that bound are lost and counted (`lost`), never
/// half-written. `failure` says why while it lasts.
///
/// **Starting over an existing file** (`start: .rotate`, a service restarted or a stream added again
/// under its id): the file is kept, rotated to `<path>.1` like a full one, after a split last line
/// (a SIGKILL in mid-write) was cut off (`trimmedBytes`); nothing written before is truncated.
public final class EventWriter {
    /// What to do with a file already at `path`.
    public enum Start: Sendable {
        /// Begin it anew (a `run`'s output).
        case truncate
        /// Keep it as `<path>.1` (a service's streams: a restart loses nothing).
        case rotate
    }

    /// How a line fared.
    public enum Outcome: Sendable, Equatable {
        /// Written, or held until the disk takes it.
        case kept
        /// Dropped: the disk refused and `maxPending` bytes are waiting already.
        case lost
    }

    /// The file.
    public let path: String
    /// Bytes held while the disk refuses, at most (4 MiB unless given).
    public let maxPending: Int
    /// Bytes buffered before they are handed to the kernel without waiting for `flush`.
    static let chunk = 64 << 10
    /// Seconds between tries while the disk refuses.
    public var retryInterval = 1.0

    private var fd: Int32 = -1
    private let rotateBytes: Int?
    private let keep: Int
    /// Bytes in the current file, written or pending.
    private var bytes = 0
    private var pending: [UInt8] = []
    private var lastTry = -Double.infinity
    /// Why the disk refuses, while it does.
    public private(set) var failure: String?
    /// Lines lost since the writer was made.
    public private(set) var lost = 0
    /// Bytes of a split last line cut off the file found at start.
    public private(set) var trimmedBytes = 0

    /// Opens `path` for writing: begun anew (`.truncate`), or after the file there was rotated away
    /// (`.rotate`).
    public init(
        path: String, rotateBytes: Int? = nil, keep: Int = 3, start: Start = .truncate, maxPending: Int = 4 << 20
    ) throws(OutputError) {
        self.path = path
        self.maxPending = max(Self.chunk, maxPending)
        self.rotateBytes = rotateBytes
        self.keep = max(1, keep)
        if start == .rotate, let size = Self.size(path), size > 0 {
            trimmedBytes = try Self.cutSplitLine(path, size: size)
            if Self.size(path) ?? 0 > 0 { try shiftRotated() }
        }
        fd = try Self.open(path)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    private static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    private static func failure(_ what: String) -> String { "\(what): \(String(cString: strerror(errno)))" }

    private static func open(_ path: String) throws(OutputError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputError(path: path, message: failure("cannot write")) }
        return fd
    }

    /// Cuts the file back to its last newline; the bytes cut.
    private static func cutSplitLine(_ path: String, size: Int) throws(OutputError) -> Int {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw OutputError(path: path, message: failure("cannot open")) }
        defer { Glibc.close(fd) }
        var end = size
        var block = [UInt8](repeating: 0, count: 4096)
        while end > 0 {
            let start = max(0, end - block.count)
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - start, off_t(start)) }
            guard n == end - start else { throw OutputError(path: path, message: failure("cannot read")) }
            if let last = block[0..<n].lastIndex(of: UInt8(ascii: "\n")) {
                let keep = start + last + 1
                guard keep < size else { return 0 }
                guard ftruncate(fd, off_t(keep)) == 0 else {
                    throw OutputError(path: path, message: failure("cannot cut its split last line"))
                }
                return size - keep
            }
            end = start
        }
        // Not one whole line: the file is all a split line.
        guard ftruncate(fd, 0) == 0 else { throw OutputError(path: path, message: failure("cannot cut it")) }
        return size
    }

    /// Appends the line for `result`: kept (written or held), or lost when the disk refuses and
    /// `maxPending` bytes wait already.
    @discardableResult
    public func write(_ result: FrameResult) throws(OutputError) -> Outcome {
        guard fd >= 0 else { throw OutputError(path: path, message: "written after close") }
        let line = result.jsonLine
        let size = line.utf8.count + 1
        if failure != nil {
            if Clock.now - lastTry >= retryInterval { drain() }
            if failure != nil && pending.count + size > maxPending {
                lost += 1
                return .lost
            }
        }
        pending.append(contentsOf: line.utf8)
        pending.append(UInt8(ascii: "\n"))
        bytes += size
        if failure == nil && pending.count >= Self.chunk { drain() }
        if failure == nil, let rotateBytes, bytes >= rotateBytes { try rotate() }
        return .kept
    }

    /// Hands what is buffered to the kernel, so that readers (and a SIGKILL) see every line so far;
    /// while the disk refuses, at most once per `retryInterval`.
    public func flush() {
        guard fd >= 0, !pending.isEmpty, failure == nil || Clock.now - lastTry >= retryInterval else { return }
        drain()
    }

    /// Writes what is pending; a refusal is kept in `failure`, what was not written stays pending.
    private func drain() {
        lastTry = Clock.now
        var done = 0
        while done < pending.count {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                failure = n < 0 ? Self.failure("write failed") : "write failed: nothing written"
                pending.removeFirst(done)
                return
            }
            done += n
        }
        pending.removeAll(keepingCapacity: pending.capacity <= Self.chunk * 2)
        failure = nil
    }

    private func rotate() throws(OutputError) {
        try close()
        try shiftRotated()
        fd = try Self.open(path)
        bytes = 0
    }

    /// `path` becomes `path.1`, older ones move up, the one past `keep` goes.
    private func shiftRotated() throws(OutputError) {
        let fm = FileManager.default
        try? fm.removeItem(atPath: "\(path).\(keep)")
        for k in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(k)") {
            try? fm.moveItem(atPath: "\(path).\(k)", toPath: "\(path).\(k + 1)")
        }
        if rename(path, "\(path).1") != 0 {
            throw OutputError(path: path, message: Self.failure("cannot rotate"))
        }
    }

    /// Writes what is pending and closes the file; throws when the disk refused what was left
    /// (those lines are lost, and counted).
    public func close() throws(OutputError) {
        guard fd >= 0 else { return }
        if !pending.isEmpty { drain() }
        let left = pending.count
        if left > 0 { lost += pending.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }
        pending = []
        let f = fd
        fd = -1
        let closed = Glibc.close(f) == 0
        if left > 0 { throw OutputError(path: path, message: failure ?? "write failed") }
        if !closed { throw OutputError(path: path, message: Self.failure("close failed")) }
    }
}

/// An output file that cannot be written.
public struct OutputError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// The file cannot be created, written, rotated or closed (a full disk, no permission).
        case write
    }

    /// The kind (one so far).
    public var code: Code { .write }
    /// The file.
    public let path: String
    /// What failed.
    public let message: String
    /// `path: message`.
    public var description: String { "\(path): \(message)" }

    /// A write failure of `path`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

extension OutputError: CodedError {
    /// Our own file could not be written.
    public var errorCode: ErrorCode { .failed }
}
