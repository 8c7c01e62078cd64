import EdgeNode
import Foundation
import Hummingbird
import TestSupport
import Testing

@testable import Server

/// The HTTP server's limits against hostile clients on loopback (`hostile_clients.py`), on the real
/// `batchline serve` with a looping real-time camera on the real detector. Outcomes only: statuses,
/// what answers, what is freed, memory against a baseline of the same process; every wait is
/// bounded only against a hang.
@Suite("Server limits", .serialized)
struct ServerLimitsTests {
    static func config(events: String, server: String = "") -> String {
        """
        server: { host: 127.0.0.1, port: 8080, idle_timeout_s: 30, header_timeout_s: 4, body_timeout_s: 4,
                  feed_write_timeout_s: 1, max_connections: 64,
                  max_snapshots: 2, max_infer_requests: 2, allowed_hosts: [edge-01.example]\(server) }
        models: { repository: models }
        output: { events: \(events) }
        streams:
          - { id: cam, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
        """
    }

    /// A serve on `config`, once its camera has a frame (snapshots need one).
    static func start(_ dir: URL) async throws -> ServeProcess {
        let serve = try ServeProcess(config: config(events: dir.path))
        let ready = try await serve.poll("/api/v1/streams/cam", timeout: 120) {
            ($0.object?["frames"] as? Int ?? 0) > 0
        }
        try #require(ready.status == 200, "the camera did not start: \(serve.stderr)")
        return serve
    }

    /// One attack of `hostile_clients.py` on `serve`: the JSON line it printed.
    static func attack(_ serve: ServeProcess, _ arguments: [String], timeout: Double = 600) throws -> [String: Any] {
        let port = String(serve.address.split(separator: ":").last ?? "")
        let result = try runProcess(
            URL(fileURLWithPath: "/usr/bin/python3"),
            [TestAssets.helper("hostile_clients.py"), arguments[0], port] + arguments.dropFirst(), timeout: timeout)
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ServeProcessError(message: "\(arguments[0]): no result: \(result.stderr.suffix(400))")
        }
        return object
    }

    /// A figure of /proc/PID/status in kB or a count: `VmRSS`, `VmHWM` (peak resident), `Threads`.
    static func status(_ pid: Int32, _ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") ?? -1
    }

    @Test(
        "Silent connections past max_connections: the oldest are closed to let a health probe in; clients that send a byte at a time (head or body) or a body shorter than its Content-Length are closed at their deadline; the camera keeps running"
    )
    func idleConnections() async throws {
        let dir = TestAssets.temporaryDirectory("limits-idle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try await Self.start(dir)
        // 100 silent connections against 64: the probe is answered while they are held, the oldest
        // closed to let it in (counted as evicted); the header deadline (4 s) closes the rest.
        let idle = try Self.attack(serve, ["idle", "100", "30"])
        #expect(idle["health"] as? Int == 200, "\(idle)")
        #expect((idle["evicted"] as? Double ?? 0) >= 36, "\(idle)")
        #expect(idle["closed_by_server"] as? Int == idle["connections"] as? Int, "\(idle)")
        // A byte every half second resets an idle timer for ever; the head and body deadlines close them.
        let slow = try Self.attack(serve, ["slow", "4", "120"])
        #expect(slow["closed_by_server"] as? Int == 4 && slow["health"] as? Int == 200, "\(slow)")
        let short = try Self.attack(serve, ["short-body"])
        #expect(short["outcome"] as? String != "still open", "\(short)")
        let metrics = try await serve.request("GET", "/metrics").text
        for reason in ["evicted", "header_timeout", "body_timeout"] {
            #expect(metrics.contains("batchline_http_connections_closed_total{reason=\"\(reason)\"}"), "\(reason)")
        }
        let cam = try await serve.request("GET", "/api/v1/streams/cam")
        #expect(cam.object?["state"] as? String == "running", "\(cam.object ?? [:])")
        #expect(serve.stop().status == 0)
    }

    @Test(
        "Event feed clients that never read are dropped and their connections closed: a new client gets in once the 32 slots were full"
    )
    func stalledFeedClients() async throws {
        let dir = TestAssets.temporaryDirectory("limits-sse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try await Self.start(dir)
        let sse = try Self.attack(serve, ["stalled-sse", "32", "300", String(serve.pid)])
        #expect(sse["new_client_first"] as? Int == 503, "\(sse)")
        #expect(sse["new_client_later"] as? Int == 200, "\(sse)")
        // The server closed the stalled clients' sockets while they were still connected.
        let before = try #require(sse["server_sockets_before"] as? Int)
        #expect((sse["server_sockets_during"] as? Int ?? 0) >= before + 32, "\(sse)")
        #expect((sse["server_sockets_after"] as? Int ?? .max) <= before, "\(sse)")
        #expect(sse["health"] as? Int == 200, "\(sse)")
        #expect(serve.stderr.contains("event feed: a client stopped reading and was dropped"))
        #expect(serve.stop().status == 0)
    }

    @Test(
        "A snapshot flood and large JSON infer requests: answered 200 or 503 with Retry-After, bodies past what the model can need refused with 413 unread, memory and threads bounded"
    )
    func boundedWork() async throws {
        let dir = TestAssets.temporaryDirectory("limits-work")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try await Self.start(dir)
        let (rss, threads) = (Self.status(serve.pid, "VmRSS"), Self.status(serve.pid, "Threads"))

        let shots = try Self.attack(serve, ["snapshots", "cam", "200"])
        let shotStatuses = shots["statuses"] as? [String: Int] ?? [:]
        #expect(Set(shotStatuses.keys).isSubset(of: ["200", "503"]) && shotStatuses["200", default: 0] > 0, "\(shots)")
        #expect(shots["retry_after_on_503"] as? Bool == true && shots["health"] as? Int == 200, "\(shots)")

        // Four ~30 MB JSON requests at once (28 frames each): once cost +2 GB.
        let infer = try Self.attack(serve, ["infer", "pedestrian-ssdlite", "4", "28"])
        let inferStatuses = infer["statuses"] as? [String: Int] ?? [:]
        #expect(
            Set(inferStatuses.keys).isSubset(of: ["200", "503"]) && inferStatuses["200", default: 0] > 0, "\(infer)")
        #expect(infer["health"] as? Int == 200, "\(infer)")
        let path = "/v2/models/pedestrian-ssdlite/infer"
        for (length, binary) in [(40 << 20, false), (20 << 20, true)] {
            let big = try Self.attack(serve, ["oversize", path, String(length)] + (binary ? ["binary"] : []))
            #expect(big["status"] as? Int == 413, "\(big)")
        }

        // Generous bounds against a baseline of the same process: the peak while attacked.
        let peak = Self.status(serve.pid, "VmHWM")
        #expect(peak - rss < 900 << 10, "peak \(peak) kB against \(rss) kB before")
        #expect(Self.status(serve.pid, "Threads") - threads < 48, "threads \(threads) before")
        let cam = try await serve.request("GET", "/api/v1/streams/cam")
        #expect(cam.object?["state"] as? String == "running", "\(cam.object ?? [:])")
        #expect(serve.stop().status == 0)
    }

    @Test(
        "Host: another name is refused with 421 and one line of JSON; the configured host, localhost, IP literals (a pod's probe) and allowed_hosts pass"
    )
    func hostHeader() async throws {
        let dir = TestAssets.temporaryDirectory("limits-host")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try ServeProcess(config: Self.config(events: dir.path))
        let hosts: [(String, Int)] = [
            ("evil.example", 421), ("evil.example:8080", 421), ("127.0.0.1.evil.example", 421),
            ("localhost:8080", 200), ("LOCALHOST", 200), ("10.42.0.7:8080", 200), ("[::1]:8080", 200),
            ("edge-01.example", 200), ("127.0.0.1", 200),
        ]
        for (name, expected) in hosts {
            let reply = try Self.attack(serve, ["host", name])
            #expect(reply["status"] as? Int == expected, "\(reply)")
            if expected == 421 {
                let body = reply["body"] as? String ?? ""
                let error = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])?["error"]
                #expect(error?.contains("server.allowed_hosts") == true && !body.contains("\n"), "\(body)")
            }
        }
        #expect(serve.stop().status == 0)
    }

    @Test(
        "A token file that others may write is refused at start (one line naming the file and chmod 600, exit non-zero); one they may read is served with one warning saying so"
    )
    func tokenFileMode() async throws {
        let dir = TestAssets.temporaryDirectory("limits-token")
        defer { try? FileManager.default.removeItem(at: dir) }
        let token = dir.appendingPathComponent("token").path
        _ = FileManager.default.createFile(
            atPath: token, contents: Data("0123456789abcdef0123456789abcdef\n".utf8),
            attributes: [.posixPermissions: 0o646])
        let config = dir.appendingPathComponent("config.yaml")
        try Self.config(events: dir.path, server: ", token_file: \(token)")
            .write(to: config, atomically: true, encoding: .utf8)
        let result = try runBatchline(["serve", "--config", config.path, "--port", "0"], timeout: 120)
        #expect(result.status != 0 && !result.timedOut)
        let lines = result.stderr.split(separator: "\n").filter { $0.contains("token") }
        #expect(lines.count == 1 && lines[0].contains(token) && lines[0].contains("chmod 600"), "\(result.stderr)")

        // Readable by others (podman's kube play mounts Secrets so): served, with one warning.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: token)
        let text = try String(contentsOf: config, encoding: .utf8)
        let serve = try ServeProcess(config: text)
        let ready = try await serve.poll("/v2/health/live", timeout: 60) { $0.status == 200 }
        #expect(ready.status == 200)
        let warnings = serve.stderr.split(separator: "\n").filter { $0.contains("warning: the token file") }
        #expect(
            warnings.count == 1 && warnings[0].contains(token) && warnings[0].contains("chmod 600"), "\(serve.stderr)")
        #expect(serve.stop().status == 0)
    }
}

extension ServerLimitsTests {
    @Test(
        "SIGTERM right after the server listens, while the model still compiles: a clean stop, exit 0 (it once exited on a segfault in the compiler's thread)"
    )
    func stopWhileLoading() throws {
        let dir = TestAssets.temporaryDirectory("limits-early-stop")
        defer { try? FileManager.default.removeItem(at: dir) }
        for _ in 0..<3 {
            let serve = try ServeProcess(config: Self.config(events: dir.path))
            let (status, _) = serve.stop()
            #expect(status == 0, "\(serve.stderr.suffix(2000))")
        }
    }
}

/// The limits' parts, in process: deterministic where the real server's timing is not.
@Suite("Server limits, in process")
struct ServerLimitsUnitTests {
    @Test("A full admission answers 503 with Retry-After at once and takes requests again once a place is freed")
    func admission() async throws {
        let admission = Admission(1, what: "snapshots", key: "max_snapshots")
        let (entered, enter) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()
        async let first = admission.run {
            enter.yield()
            for await _ in released { break }
            return Response(status: .ok)
        }
        for await _ in entered { break }
        let refused = await admission.run { Response(status: .ok) }
        #expect(refused.status == .serviceUnavailable && refused.headers[.retryAfter] == "1")
        #expect(admission.refusals == 1)
        release.yield()
        #expect(await first.status == .ok)
        #expect(await admission.run { Response(status: .ok) }.status == .ok)
    }

    @Test(
        "server: limits decoded with defaults, taken when given, and refused out of range with one line naming the key")
    func limitsConfig() {
        let (defaults, none) = ServiceConfig.check(yaml: "server: { port: 0 }", file: "s.yaml")
        #expect(none.isEmpty && defaults.serverLimits == ServerLimits())
        let given = """
            server: { max_connections: 10, idle_timeout_s: 0.5, header_timeout_s: 2, body_timeout_s: 30,
                      feed_write_timeout_s: 3, max_snapshots: 1, max_infer_requests: 2,
                      allowed_hosts: [a.example, b.example] }
            """
        let (config, problems) = ServiceConfig.check(yaml: given, file: "s.yaml")
        var expected = ServerLimits()
        (expected.maxConnections, expected.idleTimeout, expected.feedWriteTimeout) = (10, 0.5, 3)
        (expected.headerTimeout, expected.bodyTimeout) = (2, 30)
        (expected.maxSnapshots, expected.maxInferRequests) = (1, 2)
        expected.allowedHosts = ["a.example", "b.example"]
        #expect(problems.isEmpty && config.serverLimits == expected, "\(problems)")
        let bad: [(String, String)] = [
            ("max_connections: 0", "s.yaml: server.max_connections: must be within 1...65536"),
            ("idle_timeout_s: 1e13", "s.yaml: server.idle_timeout_s: must be more than 0 and at most 3600"),
            ("header_timeout_s: 0", "s.yaml: server.header_timeout_s: must be more than 0 and at most 3600"),
            ("body_timeout_s: 1e9", "s.yaml: server.body_timeout_s: must be more than 0 and at most 3600"),
            ("feed_write_timeout_s: 0", "s.yaml: server.feed_write_timeout_s: must be more than 0 and at most 600"),
            ("max_snapshots: 65", "s.yaml: server.max_snapshots: must be within 1...64"),
            ("max_infer_requests: -1", "s.yaml: server.max_infer_requests: must be within 1...64"),
            ("allowed_hosts: localhost", "s.yaml: server.allowed_hosts: must be a list of host names"),
            ("allowed_hosts: ['']", "s.yaml: server.allowed_hosts: must hold at most 64 names of 1 to 253"),
        ]
        for (body, message) in bad {
            let (_, problems) = ServiceConfig.check(yaml: "server: { \(body) }", file: "s.yaml")
            #expect(problems.count == 1 && problems.first?.description.hasPrefix(message) == true, "\(problems)")
        }
    }

    @Test(
        "A connection's phases: a head starts its body's deadline, the answer's start or the request's end lifts it, the answer's end waits again unless a pipelined request is in"
    )
    func connectionPhases() {
        var c = ConnectionState()
        #expect(c.phase == .waiting && c.phase.evictable && c.phase.deadline(headerTimeout: 10, bodyTimeout: 60) == 10)
        #expect(c.record(.requestHead) == .receiving && !c.phase.evictable)
        #expect(c.phase.deadline(headerTimeout: 10, bodyTimeout: 60) == 60)
        #expect(c.record(.requestEnd) == .answering && c.phase.deadline(headerTimeout: 10, bodyTimeout: 60) == nil)
        #expect(c.record(.responseHead) == .answering && c.record(.responseEnd) == .waiting)
        // Refused unread (413 before the body): the answer lifts the body's deadline.
        #expect(c.record(.requestHead) == .receiving && c.record(.responseHead) == .answering)
        #expect(c.record(.responseEnd) == .waiting)
        // Pipelined: the second head is read while the first is answered; busy until both are.
        var p = ConnectionState()
        for event in [ConnectionState.Event.requestHead, .requestEnd, .responseHead, .requestHead, .requestEnd] {
            p.record(event)
        }
        #expect(p.record(.responseEnd) == .answering && p.open == 1)
        #expect(p.record(.responseHead) == .answering && p.record(.responseEnd) == .waiting)
        #expect(ConnectionState().phase == .waiting)
    }

    @Test(
        "A full server closes the connection waiting longest with no request in flight, the newcomer only when all are busy"
    )
    func evictionChoice() {
        let busy: [(key: String, evictable: Bool, since: UInt64)] = [("a", false, 1), ("b", false, 2)]
        #expect(EvictionChoice.victim(among: busy + [("new", true, 9)]) == "new")
        let mixed = busy + [("c", true, 5), ("d", true, 3), ("new", true, 9)]
        #expect(EvictionChoice.victim(among: mixed) == "d")
        #expect(EvictionChoice.victim(among: busy) == nil)
    }

    @Test("Host names: configured, localhost, IP literals and allowed ones pass; others do not")
    func hostNames() {
        let check = HostCheck(host: "edge.local", allowed: ["Cam-Gateway.example"])
        for name in [
            "edge.local:8080", "localhost", "localhost.", "192.168.1.9", "[fe80::1]:80", "cam-gateway.example", nil,
        ] {
            #expect(check.allows(name), "\(name ?? "nil")")
        }
        for name in ["evil.example", "localhost.evil.example", "1.2.3.4.nip.io:8080", "[not-an-address]"] {
            #expect(!check.allows(name), "\(name)")
        }
    }
}
