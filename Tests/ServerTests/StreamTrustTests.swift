import EdgeNode
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import Server

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines kept in memory: message and metadata, as text.
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])

    /// A logger writing here.
    func logger() -> Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
        }
    }
}

/// A TCP server on loopback that accepts connections and never answers (python3).
final class SilentServer: @unchecked Sendable {
    let process = Process()
    let port: Int

    init() throws {
        let script = """
            import socket, sys
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
            print(s.getsockname()[1], flush=True)
            held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        process.standardOutput = out
        try process.run()
        var text = ""
        while !text.hasSuffix("\n"), let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty {
            text += String(decoding: byte, as: UTF8.self)
        }
        port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Killed at once (SIGKILL: the test process may hold SIGTERM blocked for its children).
    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// What a node shows of a source, which model serves which spelling, and removals that succeed,
/// in process on the real detector.
@Suite("Stream trust in process", .serialized)
struct StreamTrustTests {
    static let models = TestAssets.root.appendingPathComponent("models").path

    static func node(_ dir: URL, log: CapturedLog) throws -> EdgeService {
        let yaml = """
            models: { repository: \(models) }
            output: { events: \(dir.path) }
            batching: { policy: fixed, sizes: [1] }
            sources: { timeout_s: 1, allow_folders: [\(dir.path)] }
            streams:
              - { id: yard, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
            """
        return EdgeService(config: try ServiceConfig.parse(yaml: yaml, file: "trust.yaml"), logger: log.logger())
    }

    @Test(
        "A source's password and token are shown nowhere (GET streams, logs); a stream stuck connecting to a silent server is removed with 204"
    )
    func credentialsAndSilentSource() async throws {
        let dir = TestAssets.temporaryDirectory("trust")
        defer { try? FileManager.default.removeItem(at: dir) }
        let silent = try SilentServer()
        #expect(silent.port > 0)
        let log = CapturedLog()
        let service = try Self.node(dir, log: log)
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        let source = "http://admin:hunter2@127.0.0.1:\(silent.port)/cam.mjpg?token=tok-secret-77&w=640"
        try await app.test(.router) { client in
            let body = #"{"id":"gate","source":"\#(source)","model":"pedestrian-ssdlite"}"#
            let added = try await client.execute(uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            // Until the source's first time-out is logged (bounded against a hang).
            for _ in 0..<600 where !log.lines.withLock({ $0.contains { $0.contains("reconnecting") } }) {
                try await Task.sleep(for: .milliseconds(100))
            }
            let listed = String(buffer: try await client.execute(uri: "/api/v1/streams", method: .get).body)
                .replacingOccurrences(of: "\\/", with: "/")
            #expect(listed.contains("admin:hunter2@") == false && listed.contains("hunter2") == false, "\(listed)")
            #expect(listed.contains("tok-secret-77") == false, "\(listed)")
            #expect(listed.contains("http://***@127.0.0.1:\(silent.port)/cam.mjpg?token=***&w=640"), "\(listed)")

            let removed = try await client.execute(uri: "/api/v1/streams/gate", method: .delete)
            #expect(removed.status == .noContent, "\(String(buffer: removed.body))")
            #expect(service.stream("gate") == nil)
        }
        await service.shutdown()
        let lines = log.lines.withLock { $0 }
        #expect(lines.contains { $0.contains("stream added") && $0.contains("***@127.0.0.1") })
        #expect(lines.contains { $0.contains("reconnecting") && $0.contains("***@127.0.0.1") }, "\(lines)")
        #expect(!lines.contains { $0.contains("hunter2") || $0.contains("tok-secret-77") }, "\(lines)")
        withExtendedLifetime(silent) {}
    }

    @Test(
        "Two spellings of one model (its name, REPO/../REPO/name/) are served by one pipeline; unloading it while streams use it is refused with 409 naming them"
    )
    func oneIdentity() async throws {
        let dir = TestAssets.temporaryDirectory("trust")
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.node(dir, log: CapturedLog())
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        let spelling = Self.models + "/../models/./pedestrian-ssdlite/"
        try await app.test(.router) { client in
            let body = #"{"id":"porch","source":"\#(TestAssets.video)","model":"\#(spelling)","loop":true}"#
            let added = try await client.execute(uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            #expect(service.servedModels.count == 1)

            let unload = try await client.execute(
                uri: "/v2/repository/models/pedestrian-ssdlite/unload", method: .post)
            let error = RoutesInProcessTests.json(unload)?["error"] as? String ?? ""
            #expect(unload.status == .conflict, "\(unload.status) \(error)")
            #expect(error.contains("yard") && error.contains("porch"), "\(error)")
            #expect(service.servedModels.count == 1)
        }
        await service.shutdown()
    }

    @Test("POST /api/v1/streams refuses a FIFO, a protocol not allowed and a file outside the allowed folders with 400")
    func refusedOverHTTP() async throws {
        let dir = TestAssets.temporaryDirectory("trust")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("cam.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let service = try Self.node(dir, log: CapturedLog())
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        try await app.test(.router) { client in
            for (source, words) in [
                (fifo, "FIFO"), ("tcp://127.0.0.1:22", "protocol 'tcp'"),
                ("concat:\(TestAssets.video)|\(TestAssets.video)", "protocol 'concat'"),
                ("/etc/hostname", "not under an allowed folder"),
            ] {
                let body = #"{"source":"\#(source)","model":"pedestrian-ssdlite"}"#
                let reply = try await client.execute(
                    uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
                let error = RoutesInProcessTests.json(reply)?["error"] as? String ?? ""
                #expect(reply.status == .badRequest, "\(source): \(reply.status) \(error)")
                #expect(error.contains(words), "\(source): \(error)")
            }
            #expect(service.streams.map(\.id) == ["yard"])
        }
        await service.shutdown()
    }
}
