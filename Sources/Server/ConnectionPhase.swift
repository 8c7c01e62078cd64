/// Where one HTTP/1 connection stands, and what the server holds it to there: the decision logic of
/// `ConnectionGuard`, a value without I/O.
///
/// - `waiting`: no request in flight (just accepted, or its last answer sent). The next request's
///   head must be complete within `headerTimeout` of entering it, however slowly its bytes come
///   (a client sending a byte a second is closed all the same), and the connection is the first
///   closed when the server is full.
/// - `receiving`: a head came; its body must be complete within `bodyTimeout` of the head, or the
///   answer begun (a route that refuses a body unread answers before it ends).
/// - `answering`: the request is read (or its answer begun); no deadline here. The route bounds its
///   own work, and the event feed its writes (`feed_write_timeout_s`).
public enum ConnectionPhase: Sendable, Equatable {
    case waiting
    case receiving
    case answering

    /// Seconds the connection may stay in this phase (nil: no deadline), under `limits`' figures.
    public func deadline(headerTimeout: Double, bodyTimeout: Double) -> Double? {
        switch self {
        case .waiting: headerTimeout
        case .receiving: bodyTimeout
        case .answering: nil
        }
    }

    /// Whether a full server may close the connection to admit a new one: only when it has no
    /// request in flight.
    public var evictable: Bool { self == .waiting }
}

/// What one connection has read and answered, from which its phase follows. Requests may be
/// pipelined: a head read while the previous answer is written keeps the connection busy after
/// that answer ends.
public struct ConnectionState: Sendable, Equatable {
    /// What the connection saw: a request's parts read, an answer's parts written.
    public enum Event: Sendable, Equatable {
        case requestHead, requestEnd, responseHead, responseEnd
    }

    /// Requests whose head was read and whose answer has not ended.
    public private(set) var open = 0
    /// Whether the last request's body is still being read.
    public private(set) var readingBody = false
    /// Whether an answer is being written.
    public private(set) var answering = false

    /// A connection just accepted.
    public init() {}

    /// The phase the connection is in.
    public var phase: ConnectionPhase {
        if open == 0 { return .waiting }
        if readingBody && !answering { return .receiving }
        return .answering
    }

    /// Records `event`; the phase after it.
    @discardableResult
    public mutating func record(_ event: Event) -> ConnectionPhase {
        switch event {
        case .requestHead: (open, readingBody) = (open + 1, true)
        case .requestEnd: readingBody = false
        case .responseHead: answering = true
        case .responseEnd: (open, answering) = (max(0, open - 1), false)
        }
        return phase
    }
}

/// The choice of which connection a full server closes: of those with no request in flight, the one
/// waiting longest. A client that opened many and sends nothing loses its oldest first; a probe
/// that just connected is the youngest, so it is chosen only when every other connection has a
/// request in flight (then the newcomer is the one closed, and the requests in flight go on).
public enum EvictionChoice {
    /// The key of the connection to close among `connections` (key, evictable, since when; the
    /// newcomer included), or nil when none may be closed.
    public static func victim<Key>(among connections: some Sequence<(key: Key, evictable: Bool, since: UInt64)>) -> Key?
    {
        var best: (key: Key, since: UInt64)?
        for c in connections where c.evictable {
            if best == nil || c.since < best!.since { best = (c.key, c.since) }
        }
        return best?.key
    }
}
