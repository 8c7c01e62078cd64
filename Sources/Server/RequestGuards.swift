import EdgeNode
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The control plane's request context: Hummingbird's core context and the connection the request
/// came on (the event feed closes a client's connection when the client stops reading).
public struct ControlContext: RequestContext {
    /// Hummingbird's storage: allocator, logger, path parameters.
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    public let channel: any Channel

    /// The context of a request that came on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// What the control plane bounds before a request does any work: who may name the server (`Host`),
/// how many snapshots and `infer` requests run at once (`server:` limits, `ServerLimits`).
struct RequestGuards: Sendable {
    let hosts: HostCheck
    let snapshots: Admission
    let inferRequests: Admission

    init(limits: ServerLimits = ServerLimits(), host: String = "127.0.0.1") {
        hosts = HostCheck(host: host, allowed: limits.allowedHosts)
        snapshots = Admission(limits.maxSnapshots, what: "snapshots", key: "max_snapshots")
        inferRequests = Admission(limits.maxInferRequests, what: "infer requests", key: "max_infer_requests")
    }

    init(config: ServiceConfig) {
        self.init(limits: config.serverLimits, host: config.host)
    }
}

/// Work in progress with a ceiling. Full: the request is answered 503 with `Retry-After: 1` at
/// once (the limit is the server's, not one client's, so not 429), and nothing waits in a queue.
final class Admission: Sendable {
    let limit: Int
    let what: String
    let key: String
    private let inUse = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)

    init(_ limit: Int, what: String, key: String) {
        self.limit = limit
        self.what = what
        self.key = key
    }

    /// Requests refused for want of a place, so far.
    var refusals: Int { refused.load(ordering: .relaxed) }

    /// `body`'s response, run holding a place; or the refusal when all `limit` are taken.
    func run(_ body: () async throws -> Response) async rethrows -> Response {
        var taken = inUse.load(ordering: .relaxed)
        while true {
            guard taken < limit else {
                refused.wrappingAdd(1, ordering: .relaxed)
                var busy = ControlPlane.error(
                    ServiceError(.unavailable, "\(limit) \(what) at once at most (server.\(key)): ask again"))
                busy.headers[.retryAfter] = "1"
                return busy
            }
            let (exchanged, now) = inUse.compareExchange(
                expected: taken, desired: taken + 1, ordering: .acquiringAndReleasing)
            if exchanged { break }
            taken = now
        }
        defer { inUse.subtract(1, ordering: .releasing) }
        return try await body()
    }
}

/// The names a request's `Host` may give, against DNS rebinding (a page of another site whose name
/// was made to point at 127.0.0.1): the configured host, `localhost`, any IP literal (a Kubernetes
/// probe names the pod's address), and `server.allowed_hosts`. A request without `Host` (HTTP/1.0,
/// never a browser's) passes.
struct HostCheck: Sendable {
    let names: Set<String>

    init(host: String, allowed: [String]) {
        names = Set((["localhost", host] + allowed).map { Self.normalized($0) })
    }

    /// Whether `authority` (a `Host` header: a name or an address, with or without a port) is allowed.
    func allows(_ authority: String?) -> Bool {
        guard let authority, !authority.isEmpty else { return true }
        let host = Self.normalized(Self.hostPart(authority))
        return names.contains(host) || Self.isAddress(host)
    }

    /// The refusal: 421, one line naming the host and the setting that admits it.
    func refusal(_ authority: String) -> Response {
        let name = RequestDecoding.quoted(Self.hostPart(authority))
        return ControlPlane.error(
            .misdirectedRequest, "Host '\(name)' is not a name of this server: add it to server.allowed_hosts")
    }

    /// `name` lowercased, without a final dot.
    static func normalized(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    /// The host of `authority`: `[::1]:8080` gives `::1`, `example.com:80` gives `example.com`.
    static func hostPart(_ authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<end])
        }
        if let colon = authority.firstIndex(of: ":"), colon == authority.lastIndex(of: ":") {
            return String(authority[..<colon])
        }
        return authority
    }

    /// Whether `host` is an IPv4 or IPv6 address.
    static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// The HTTP server's settings that depend on the machine.
enum ServerSettings {
    /// Connections accepted past the limit while the guard's closes land: an eighth of it, 1 to 64.
    static func acceptReserve(_ limit: Int) -> Int { min(64, max(1, limit / 8)) }

    /// `configured`, held to a quarter of the process's open-file limit (the rest is for the cameras,
    /// the models and the events files), saying so when it lowers it. The soft limit is first raised
    /// to the hard one (at most 65536), as Go's runtime does: the default soft limit (often 1024) is
    /// for programs that still use `select`.
    static func connectionLimit(_ configured: Int, logger: Logger) -> Int {
        var limit = rlimit()
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return configured }
        let wanted = min(limit.rlim_max, 65536)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = wanted
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        let cap = max(8, Int(clamping: limit.rlim_cur) / 4)
        guard configured > cap else { return configured }
        logger.notice(
            "server.max_connections lowered to a quarter of the open-file limit",
            metadata: ["configured": "\(configured)", "limit": "\(cap)", "nofile": "\(limit.rlim_cur)"])
        return cap
    }
}
