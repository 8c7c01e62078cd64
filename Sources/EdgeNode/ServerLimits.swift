/// The HTTP server's limits, from the `server:` section: how many connections, how long a silent
/// client is kept, how much work requests that need no token may cause. Each says what happens
/// when it is reached.
///
/// ```yaml
/// server: { max_connections: 256, idle_timeout_s: 10, feed_write_timeout_s: 10,
///           max_snapshots: 4, max_infer_requests: 4, allowed_hosts: [edge-01.example] }
/// ```
public struct ServerLimits: Sendable, Equatable {
    /// Connections open at once (`max_connections`, 1...65536). Past it the server stops accepting:
    /// new connections wait in the listen backlog until one closes. At start it is also held under
    /// a quarter of the process's open-file limit, so that clients never take the descriptors the cameras,
    /// models and events files need.
    public var maxConnections = 256
    /// Seconds a connection may stay silent while no request is answered, or while a request's head
    /// or body is read (`idle_timeout_s`, more than 0 and at most 3600); then it is closed. Short,
    /// because past `maxConnections` silent connections are what keeps others waiting.
    public var idleTimeout = 10.0
    /// Seconds one write of the event feed may wait for a client that does not read
    /// (`feed_write_timeout_s`, more than 0 and at most 600); then the client is dropped, its
    /// connection closed and its slot freed.
    public var feedWriteTimeout = 10.0
    /// Snapshots (`GET .../snapshot.jpg`) drawn and encoded at once (`max_snapshots`, 1...64).
    /// Past it: 503 with `Retry-After: 1`.
    public var maxSnapshots = 4
    /// `infer` requests read, decoded and run at once (`max_infer_requests`, 1...64). Past it:
    /// 503 with `Retry-After: 1`.
    public var maxInferRequests = 4
    /// Host names a request's `Host` may carry besides the configured host, `localhost` and IP
    /// literals (`allowed_hosts`, at most 64). Any other is refused (421), against DNS rebinding.
    public var allowedHosts: [String] = []

    /// The defaults.
    public init() {}
}
