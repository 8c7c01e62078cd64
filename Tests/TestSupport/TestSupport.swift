import Foundation
import Monitoring

#if canImport(Glibc)
    import Glibc
#endif

/// Paths to the bundled assets (fetched by scripts/bootstrap.sh) and helpers the tests share.
public enum TestAssets {
    /// The package root.
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// vtest.avi: 768x576, 10 fps, 795 frames.
    public static var video: String { root.appendingPathComponent("assets/vtest.avi").path }

    /// The pedestrian detector's version folder (model file + model.json).
    public static var detector: String { root.appendingPathComponent("models/pedestrian-ssdlite/1").path }

    /// The detector's model file.
    public static var detectorFile: String { detector + "/frozen_inference_graph.pb" }

    /// A checked-in fixture.
    public static func fixture(_ name: String) -> URL { root.appendingPathComponent("Tests/Fixtures/\(name)") }

    /// A fresh temporary folder.
    public static func temporaryDirectory(_ label: String = "batchline") -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// GNU tar's archive of `folder`'s contents (`tar -C FOLDER -cf - .`), as a user sends a version.
    public static func tarArchive(of folder: String) throws -> Data {
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-C", folder, "-cf", "-", "."]
        let out = Pipe()
        tar.standardOutput = out
        try tar.run()
        let archive = out.fileHandleForReading.readDataToEndOfFile()
        tar.waitUntilExit()
        guard tar.terminationStatus == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: folder])
        }
        return archive
    }

    /// The `batchline` executable built next to the tests.
    public static var executable: URL {
        let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("batchline")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let inBundleDir = Bundle.main.bundleURL.appendingPathComponent("batchline")
        if FileManager.default.isExecutableFile(atPath: inBundleDir.path) { return inBundleDir }
        return root.appendingPathComponent(".build/debug/batchline")
    }

    /// The Python of the bootstrap's venv (OpenVINO, OpenCV).
    public static var venvPython: String { root.appendingPathComponent(".deps/venv/bin/python").path }

    /// A helper script beside this file.
    public static func helper(_ name: String) -> String {
        root.appendingPathComponent("Tests/TestSupport/\(name)").path
    }

    /// Resident set size of this process in bytes (the monitor's own reading).
    public static func residentBytes() -> Int { ResourceMonitor.residentBytes() }
}

/// What a finished command did.
public struct CommandResult: Sendable {
    /// Exit status (or -1 when it had to be killed).
    public var status: Int32
    /// Standard output.
    public var stdout: String
    /// Standard error.
    public var stderr: String
    /// Seconds it ran.
    public var seconds: Double
    /// Whether it ran past its time limit and was killed.
    public var timedOut: Bool
}

/// Runs `batchline` with `arguments`, killing it after `timeout` seconds.
public func runBatchline(_ arguments: [String], timeout: Double = 120) throws -> CommandResult {
    try runProcess(TestAssets.executable, arguments, timeout: timeout)
}

/// Runs a program, killing it after `timeout` seconds.
public func runProcess(_ executable: URL, _ arguments: [String], timeout: Double) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = TestAssets.root
    let out = TestAssets.temporaryDirectory("proc")
    let outFile = out.appendingPathComponent("stdout")
    let errFile = out.appendingPathComponent("stderr")
    for file in [outFile, errFile] where !FileManager.default.createFile(atPath: file.path, contents: nil) {
        throw POSIXError(.EIO)
    }
    process.standardOutput = try FileHandle(forWritingTo: outFile)
    process.standardError = try FileHandle(forWritingTo: errFile)
    process.standardInput = FileHandle.nullDevice
    let start = Date()
    try process.run()
    var timedOut = false
    while process.isRunning {
        if Date().timeIntervalSince(start) > timeout {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            break
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    process.waitUntilExit()
    defer { try? FileManager.default.removeItem(at: out) }
    return CommandResult(
        status: timedOut ? -1 : process.terminationStatus,
        stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "",
        seconds: Date().timeIntervalSince(start),
        timedOut: timedOut)
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers: a silent stream.
public final class SilentServer: @unchecked Sendable {
    /// The port it listens on.
    public let port: Int
    private let fd: Int32

    /// Listens on a free loopback port.
    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }
}

/// A loopback port with nothing listening: connections are refused at once.
public func closedPort() -> Int {
    let server = try? SilentServer()
    return server?.port ?? 9  // the listener closes when `server` goes away
}

/// Python's http.server on 127.0.0.1, serving `directory`, stopped on deinit.
public final class HTTPFileServer: @unchecked Sendable {
    /// The port it serves on.
    public let port: Int
    private let process = Process()

    /// Starts the server and waits until it accepts connections.
    public init(directory: String) throws {
        port = closedPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Only against a hang: Python starts slowly on a loaded machine.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(process.processIdentifier, SIGKILL)
        throw POSIXError(.ETIMEDOUT)
    }

    deinit {
        // SIGKILL: a child spawned from a test thread may inherit a mask that blocks SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// A live camera on 127.0.0.1 (`live_http_camera.py`): a file served over HTTP with no length,
/// paced over `seconds`; `stop()` kills it as a camera losing power, `start()` brings it back on
/// the same port.
public final class LiveHTTPCamera: @unchecked Sendable {
    /// The port it serves on.
    public let port: Int
    private let file: String
    private let seconds: Double
    private var process: Process?

    /// Starts serving `file`.
    public init(file: String, seconds: Double) throws {
        port = closedPort()
        self.file = file
        self.seconds = seconds
        try start()
    }

    /// The URL a client opens.
    public var url: String { "http://127.0.0.1:\(port)/camera.ts" }

    /// Starts (again) and waits until it accepts connections.
    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = TestAssets.root.appendingPathComponent("Tests/TestSupport/live_http_camera.py").path
        p.arguments = ["python3", script, file, String(port), String(seconds)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Only against a hang: Python starts slowly on a loaded machine.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw POSIXError(.ETIMEDOUT)
    }

    /// Kills it at once.
    public func stop() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }
}
