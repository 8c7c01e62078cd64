import Foundation
import Monitoring
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A local (Unix) socket on which a running `batchline run` takes model commands, one line each:
/// `activate <version>`, `rollback`, `status`. Each gets one JSON line back:
/// `{"ok":true,...}` or `{"ok":false,"error":"..."}`.
///
/// Each connection is answered on a thread of its own (at most 8 at once): an `activate` blocks its
/// thread (never the stream's) until the stream has switched or the swap failed, while `status`
/// answers at once. The socket is readable by its owner
/// only, and removed when the run ends.
public final class ControlServer: Sendable {
    /// Where it listens.
    public let path: String
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)
    /// Connections being answered now, each on its own thread.
    private let serving = Atomic<Int>(0)
    /// At most this many at once; more get an error at once.
    static let maxConnections = 8

    /// Listens on `path`; a stale socket left by a run that died is replaced, a live one is an error.
    /// With `privateFolder` (the default path), its folder is created owner-only if missing and must
    /// belong to this user, so that nobody else can put a socket there.
    public init(path: String, models: ModelManager, privateFolder: Bool = false) throws(PipelineError) {
        self.path = path
        guard path.utf8.count < 100 else {
            throw PipelineError("\(path): control socket path too long (99 bytes at most)")
        }
        if privateFolder { try Self.ensurePrivateFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw PipelineError("\(path): exists and is not a socket; give another --control path")
            }
            guard !ControlClient.isListening(path) else {
                throw PipelineError(
                    "\(path): another batchline run is listening on this control socket (give this one --control PATH)")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw PipelineError("\(path): cannot create a socket: \(String(cString: strerror(errno)))")
        }
        var address = ControlClient.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw PipelineError("\(path): cannot listen: \(why)")
        }
        chmod(path, 0o600)
        self.fd = fd
        let thread = Thread { [self] in self.serve(models) }
        thread.name = "batchline-control"
        thread.start()
    }

    /// Stops listening and removes the socket; a command being served gets up to 2 s to answer.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        unlink(path)
        let limit = Clock.now + 2
        while serving.load(ordering: .acquiring) > 0 && Clock.now < limit { Thread.sleep(forTimeInterval: 0.01) }
    }

    /// Creates `folder` owner-only if missing; refuses one that belongs to someone else or that others
    /// may write to.
    static func ensurePrivateFolder(_ folder: String) throws(PipelineError) {
        if mkdir(folder, 0o700) != 0 && errno != EEXIST {
            throw PipelineError(
                "\(folder): cannot create the control socket's folder: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(folder, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid(),
            info.st_mode & 0o022 == 0
        else {
            throw PipelineError(
                "\(folder): the control socket's folder must be a folder of yours that others cannot write to")
        }
    }

    private func serve(_ models: ModelManager) {
        // `stop` shuts the socket down; the descriptor is closed here, once, when the loop has ended.
        defer { close(fd) }
        while !stopped.load(ordering: .acquiring) {
            let client = accept(fd, nil, nil)
            if client < 0 {
                // Shut down by `stop`: the loop ends (and the descriptor is closed) only then, so that
                // `stop` never shuts down a number reused by another socket. Anything else (out of
                // descriptors or memory, an aborted connection) is tried again shortly.
                if stopped.load(ordering: .acquiring) { break }
                if errno != EINTR && errno != ECONNABORTED { Thread.sleep(forTimeInterval: 0.1) }
                continue
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // Each connection on its own thread: `status` answers at once while an `activate` loads.
            guard serving.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue <= Self.maxConnections else {
                serving.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                ControlClient.write("{\"ok\":false,\"error\":\"busy: too many control connections\"}\n", to: client)
                close(client)
                continue
            }
            let thread = Thread { [self] in
                defer {
                    close(client)
                    serving.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                }
                guard let line = ControlClient.readLine(client) else { return }
                ControlClient.write(Self.answer(line, models) + "\n", to: client)
            }
            thread.name = "batchline-control-connection"
            thread.start()
        }
    }

    /// The reply to one command line.
    static func answer(_ line: String, _ models: ModelManager) -> String {
        let words = line.split(separator: " ").map(String.init)
        func ok<T: Encodable>(_ key: String, _ value: T) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let body = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
            return "{\"ok\":true,\"\(key)\":\(body)}"
        }
        func failure(_ message: String) -> String {
            let encoded = (try? JSONEncoder().encode([message])).map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
            return "{\"ok\":false,\"error\":\(encoded.dropFirst().dropLast())}"
        }
        switch words.first {
        case "status":
            return ok("status", models.status)
        case "activate":
            guard words.count == 2, let version = Int(words[1]) else { return failure("usage: activate <version>") }
            do {
                return ok("swap", try models.activate(version, trigger: "request"))
            } catch {
                return failure(error.message)
            }
        case "rollback":
            do {
                return ok("swap", try models.rollback())
            } catch {
                return failure(error.message)
            }
        default:
            return failure("unknown command \"\(words.first ?? "")\": use activate <version>, rollback or status")
        }
    }
}

/// Sends one command to a running `batchline run` over its control socket.
public enum ControlClient {
    /// Whether a run listens on `path`: only a refused connection, or no file, says that nobody does.
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0 || (errno != ECONNREFUSED && errno != ENOENT)
    }

    /// Sends `command` and returns the reply line; throws when nobody listens or nothing comes back
    /// within `timeout` seconds.
    public static func send(_ command: String, to path: String, timeout: Int = 120) throws(PipelineError) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw PipelineError("\(path): cannot create a socket: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var sendLimit = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendLimit, socklen_t(MemoryLayout<timeval>.size))
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            throw PipelineError("\(path): no batchline run is listening (\(String(cString: strerror(errno))))")
        }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        write(command + "\n", to: fd)
        guard let reply = readLine(fd) else {
            throw PipelineError(
                errno == EAGAIN || errno == EWOULDBLOCK
                    ? "\(path): no answer within \(timeout) s"
                    : "\(path): the run closed the connection without answering")
        }
        return reply
    }

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// One line (at most 64 KiB), without its newline; nil on time-out (errno EAGAIN), error, or end
    /// before a newline (errno 0).
    static func readLine(_ fd: Int32) -> String? {
        errno = 0
        var data: [UInt8] = []
        var byte: UInt8 = 0
        while data.count < 65536 {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: data, as: UTF8.self) }
            data.append(byte)
        }
        return nil
    }

    static func write(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            sent += n
        }
    }
}
