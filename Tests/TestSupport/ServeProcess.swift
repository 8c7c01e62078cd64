import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `batchline serve --config FILE --port 0` in its own process: started, asked over HTTP, stopped
/// with a signal as an orchestrator stops it.
public final class ServeProcess: @unchecked Sendable {
    /// `http://127.0.0.1:PORT` once it listens.
    public private(set) var address = ""
    private let process = Process()
    private let folder: URL
    private let outFile: URL
    private let errFile: URL
    private let started = Date()

    /// Starts it on `config` (YAML text written to a temporary file) and waits until it listens;
    /// throws with its standard error when it exits first or does not listen within `timeout`.
    /// `command` is `serve`, or `fleet` (which takes the same `--config` and `--port`); `port` 0
    /// takes a free one (a given one: a process started again where it was).
    public init(config: String, command: String = "serve", port: Int = 0, timeout: Double = 60) throws {
        folder = TestAssets.temporaryDirectory("serve")
        let configFile = folder.appendingPathComponent("config.yaml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        outFile = folder.appendingPathComponent("stdout")
        errFile = folder.appendingPathComponent("stderr")
        for file in [outFile, errFile] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        process.executableURL = TestAssets.executable
        process.arguments = [command, "--config", configFile.path, "--port", String(port)]
        process.currentDirectoryURL = TestAssets.root
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let out = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
            if let range = out.range(of: "listening on ") {
                address = String(out[range.upperBound...].prefix { !$0.isWhitespace })
                return
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw ServeProcessError(message: "\(command) did not start: \(stderr)")
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// What it wrote to standard error so far.
    public var stderr: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// Its process id (for /proc/PID/status: threads, resident and peak memory).
    public var pid: Int32 { process.processIdentifier }

    /// Sends `signal` and waits up to `timeout` seconds for the exit: its status and how long it
    /// took (nil status: it had to be killed). The time-out only guards against a hang: generous,
    /// for a slow, loaded machine.
    public func stop(signal: Int32 = SIGTERM, timeout: Double = 60) -> (status: Int32?, seconds: Double) {
        let t0 = Date()
        kill(process.processIdentifier, signal)
        while process.isRunning && Date().timeIntervalSince(t0) < timeout { Thread.sleep(forTimeInterval: 0.02) }
        let seconds = Date().timeIntervalSince(t0)
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return (nil, seconds)
        }
        process.waitUntilExit()
        return (process.terminationStatus, seconds)
    }

    /// One HTTP exchange: the status and the body parsed as JSON (nil when empty or not JSON).
    public func request(_ method: String, _ path: String, body: Data? = nil, authorization: String? = nil)
        async throws -> HTTPReply
    {
        var request = URLRequest(url: URL(string: address + path)!)
        request.httpMethod = method
        request.httpBody = body
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        request.timeoutInterval = 30
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return HTTPReply(status: status, data: data)
    }

    /// `request` with a JSON body.
    public func request(_ method: String, _ path: String, json: [String: Any]) async throws -> HTTPReply {
        try await request(method, path, body: try JSONSerialization.data(withJSONObject: json))
    }

    /// Polls `GET path` until `condition` holds for the reply, or `timeout` passes; the last reply.
    @discardableResult
    public func poll(_ path: String, timeout: Double, every: Double = 0.2, until condition: (HTTPReply) -> Bool)
        async throws -> HTTPReply
    {
        let deadline = Date().addingTimeInterval(timeout)
        var reply = try await request("GET", path)
        while !condition(reply) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(Int(every * 1000)))
            reply = try await request("GET", path)
        }
        return reply
    }
}

/// An HTTP reply.
public struct HTTPReply: Sendable {
    public var status: Int
    public var data: Data

    /// The body as a JSON object.
    public var object: [String: Any]? { (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] }
    /// The body as a JSON array of objects.
    public var array: [[String: Any]]? { (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] }
    /// `error` of a JSON error body.
    public var error: String? { object?["error"] as? String }
    /// The body as text (empty when it is not UTF-8).
    public var text: String { String(data: data, encoding: .utf8) ?? "" }
}

/// serve did not come up.
public struct ServeProcessError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// GStreamer's RTSP server on loopback playing `file` as a live camera (`rtsp_camera.py`, under
/// Debian's /usr/bin/python3, whose GObject bindings it needs); `kill()` cuts it off as a camera
/// losing power, `start()` brings it back on the same port.
public final class RTSPCamera: @unchecked Sendable {
    public let port: Int
    private let file: String
    private var process: Process?

    public init(file: String) throws {
        port = closedPort()
        self.file = file
        try start()
    }

    /// The URL a client opens.
    public var url: String { "rtsp://127.0.0.1:\(port)/cam" }

    /// Starts (again) and waits until it listens.
    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [TestAssets.helper("rtsp_camera.py"), file, String(port)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Only against a hang: GStreamer starts slowly on a loaded machine.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill()
        throw ServeProcessError(message: "the RTSP camera did not start on port \(port)")
    }

    /// Kills it at once (SIGKILL: its GLib loop ignores SIGTERM).
    public func kill() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit { kill() }
}
