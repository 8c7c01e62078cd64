/// The HTTP server's limits, from the `server:` section: how many connections, how long a silent
/// client is kept, how much work requests that need no token may cause. Each says what happens
/// when it is reached.
///
/// ```yaml
/// server: { max_connections: 256, idle_timeout_s: 10, header_timeout_s: 10, body_timeout_s: 60,
///           feed_write_timeout_s: 10, max_snapshots: 4, max_infer_requests: 4,
///           allowed_hosts: [edge-01.example] }
/// ```
public struct ServerLimits: Sendable, Equatable {
    /// Connections open at once (`max_connections`, 1...65536). Past it, the connection that has
    /// waited longest with no request in flight is closed to admit the new one (a flood of silent
    /// connections cannot keep a health probe out); when every connection has a request in flight,
    /// the new one is closed. At start it is also held under a quarter of the process's open-file
    /// limit, so that clients never take the descriptors the cameras, models and events files need.
    public var maxConnections = 256
    /// Seconds a connection may stay silent while no request is answered, or while a request's head
    /// or body is read (`idle_timeout_s`, more than 0 and at most 3600); then it is closed. Short,
    /// because past `maxConnections` silent connections are what keeps others waiting.
    public var idleTimeout = 10.0
    /// Seconds a request's head may take to arrive, counted from the moment the connection is ready
    /// for it (accepted, or its last answer sent) however slowly its bytes come
    /// (`header_timeout_s`, more than 0 and at most 3600); then the connection is closed. A client
    /// sending a byte now and then resets an idle timer for ever, never this one.
    public var headerTimeout = 10.0
    /// Seconds a request's body may take to arrive after its head, unless the answer has begun
    /// (`body_timeout_s`, more than 0 and at most 3600); then the connection is closed.
    public var bodyTimeout = 60.0
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
