import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's `mosquitto` broker on 127.0.0.1: anonymous, with persistence in its own folder (a
/// subscriber's persistent session and its queued messages outlive a `stop` and `start`), on the
/// same port each time it starts.
public final class MosquittoBroker: @unchecked Sendable {
    public let port: Int
    private let folder: URL
    private var process: Process?

    /// Whether Debian's broker is installed (`scripts/bootstrap.sh --test-peers`).
    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") }

    /// A broker on a free port, started unless `start` is false (nothing listens there until `start()`).
    public init(start: Bool = true, tls: (ca: String, certificate: String, key: String)? = nil) throws {
        port = closedPort()
        folder = TestAssets.temporaryDirectory("mosquitto")
        let tlsLines = tls.map { "cafile \($0.ca)\ncertfile \($0.certificate)\nkeyfile \($0.key)\n" } ?? ""
        let config = """
            listener \(port) 127.0.0.1
            \(tlsLines)
            allow_anonymous true
            persistence true
            persistence_location \(folder.path)/
            autosave_interval 1
            user root
            max_queued_messages 100000
            log_dest stderr

            """
        try config.write(to: folder.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        if start { try self.start() }
    }

    /// Starts it and waits until it accepts connections.
    public func start() throws {
        let p = Process()
        // A child started from a test's thread may inherit a mask that blocks SIGTERM: unblocked
        // before the broker starts, so that `stop` is the clean stop that saves its sessions.
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [
            "-c",
            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
            "/usr/sbin/mosquitto", "-c", folder.appendingPathComponent("mosquitto.conf").path,
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: logFile())
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if canConnect(port: port) { return }
            if !p.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw POSIXError(.ETIMEDOUT)
    }

    private func logFile() throws -> URL {
        let file = folder.appendingPathComponent("log")
        if !FileManager.default.fileExists(atPath: file.path) {
            FileManager.default.createFile(atPath: file.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: file)
        handle.seekToEndOfFile()
        try handle.close()
        return file
    }

    /// What it logged.
    public var log: String { (try? String(contentsOf: folder.appendingPathComponent("log"), encoding: .utf8)) ?? "" }

    /// Stops it (SIGTERM: it saves its sessions) and waits for the exit.
    public func stop() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// A python process started from `Tests/TestSupport`, killed on deinit.
final class PythonPeer: @unchecked Sendable {
    private let process = Process()

    init(script: String, arguments: [String], log: URL) throws {
        process.executableURL = URL(fileURLWithPath: TestAssets.venvPython)
        process.arguments = [TestAssets.root.appendingPathComponent("Tests/TestSupport/\(script)").path] + arguments
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A paho-mqtt subscriber of `<topic>/#` with a persistent session (`mqtt_subscriber.py`).
public final class MQTTSubscriber: @unchecked Sendable {
    private let peer: PythonPeer
    private let file: URL
    private let logFile: URL

    public struct Message: Sendable, Decodable {
        public var topic: String
        public var retain: Bool
        public var payload: String
    }

    public init(port: Int, topic: String, folder: URL, clientID: String? = nil) throws {
        file = folder.appendingPathComponent("received.jsonl")
        logFile = folder.appendingPathComponent("subscriber.log")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        peer = try PythonPeer(
            script: "mqtt_subscriber.py",
            arguments: [String(port), topic, file.path, clientID ?? "batchline-test-\(port)"],
            log: logFile)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !log.contains("connected") {
            guard peer.isRunning else { throw ServeProcessError(message: "subscriber: \(log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// What it printed.
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Every message received so far, in order.
    public var messages: [Message] {
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Message.self, from: Data($0.utf8)) }
    }
}

/// A webhook receiver (`webhook_receiver.py`): 500 while `failing`, else 200 and the body kept.
public final class WebhookReceiver: @unchecked Sendable {
    public let port: Int
    private let peer: PythonPeer
    private let file: URL
    private let flag: URL

    public init(folder: URL) throws {
        port = closedPort()
        file = folder.appendingPathComponent("posted.jsonl")
        flag = folder.appendingPathComponent("fail")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        peer = try PythonPeer(
            script: "webhook_receiver.py", arguments: [String(port), file.path, flag.path],
            log: folder.appendingPathComponent("receiver.log"))
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !canConnect(port: port) { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// Whether it answers 500.
    public var failing: Bool {
        get { FileManager.default.fileExists(atPath: flag.path) }
        set {
            if newValue {
                FileManager.default.createFile(atPath: flag.path, contents: nil)
            } else {
                try? FileManager.default.removeItem(at: flag)
            }
        }
    }

    /// The bodies it took (answered 200), in order.
    public var bodies: [String] {
        ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

/// A certificate authority and a broker certificate it signed (for `localhost` and 127.0.0.1), made
/// with the openssl CLI in `folder`: the paths of the CA's certificate, the broker's and its key.
public func makeTestCertificates(in folder: URL) throws -> (ca: String, certificate: String, key: String) {
    let path = { (name: String) in folder.appendingPathComponent(name).path }
    try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: path("ext.cnf"), atomically: true, encoding: .utf8)
    let openssl = URL(fileURLWithPath: "/usr/bin/openssl")
    for arguments in [
        [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"),
            "-days", "2", "-subj", "/CN=batchline-test-ca",
        ],
        [
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("broker.key"), "-out", path("broker.csr"),
            "-subj", "/CN=localhost",
        ],
        [
            "x509", "-req", "-in", path("broker.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
            "-CAcreateserial", "-out", path("broker.pem"), "-days", "2", "-extfile", path("ext.cnf"),
        ],
    ] {
        let result = try runProcess(openssl, arguments, timeout: 60)
        guard result.status == 0 else { throw ServeProcessError(message: "openssl: \(result.stderr)") }
    }
    return (path("ca.pem"), path("broker.pem"), path("broker.key"))
}
