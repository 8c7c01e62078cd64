import CoreMetrics
import EdgeNode
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Holds every HTTP connection to its phase's deadline and keeps the server answering when it is
/// full (`ConnectionPhase` decides; this applies it).
///
/// - A request's head must be complete within `server.header_timeout_s` of the connection being
///   ready for it, and its body within `server.body_timeout_s` of its head: a client that sends a
///   byte now and then (which resets an idle timer for ever) is closed at the deadline.
/// - Past `server.max_connections`, the connection waiting longest with no request in flight is
///   closed to admit the new one, so a flood of silent connections cannot keep a health probe or an
///   operator out. When every connection has a request in flight, the newcomer is closed.
///
/// Each close is counted in `batchline_http_connections_closed_total{reason}` (`evicted`,
/// `header_timeout`, `body_timeout`). Nothing is logged per connection (a flood would flood the log).
final class ConnectionGuard: Sendable {
    /// One open connection as the guard sees it.
    private struct Entry {
        let channel: any Channel
        var evictable: Bool
        var since: UInt64
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextKey = 0
        /// Orders phase changes: the connection that entered `waiting` first has the smallest.
        var tick: UInt64 = 0
    }

    /// Why the guard closed a connection: the metric's `reason`.
    enum Reason: String, CaseIterable {
        case evicted
        case headerTimeout = "header_timeout"
        case bodyTimeout = "body_timeout"
    }

    let limit: Int
    let headerTimeout: Double
    let bodyTimeout: Double
    private let state = Mutex(State())
    private let closes: [Reason: CoreMetrics.Counter]

    /// A guard for at most `limit` connections, with `limits`' deadlines, counting through `factory`.
    init(limit: Int, limits: ServerLimits, factory: any MetricsFactory) {
        self.limit = limit
        headerTimeout = limits.headerTimeout
        bodyTimeout = limits.bodyTimeout
        closes = Dictionary(
            uniqueKeysWithValues: Reason.allCases.map {
                (
                    $0,
                    CoreMetrics.Counter(
                        label: "batchline_http_connections_closed_total", dimensions: [("reason", $0.rawValue)],
                        factory: factory)
                )
            })
    }

    /// A handler for one new connection's pipeline.
    func handler() -> ConnectionGuardHandler { ConnectionGuardHandler(guard: self) }

    /// Registers `channel`, closing the connection chosen to make room when the server is full;
    /// its key.
    func opened(_ channel: any Channel) -> Int {
        let (key, victim) = state.withLock { s -> (Int, (any Channel)?) in
            let key = s.nextKey
            s.nextKey += 1
            s.tick += 1
            s.entries[key] = Entry(channel: channel, evictable: true, since: s.tick)
            guard s.entries.count > limit,
                let chosen = EvictionChoice.victim(
                    among: s.entries.lazy.map { (key: $0.key, evictable: $0.value.evictable, since: $0.value.since) })
            else { return (key, nil) }
            return (key, s.entries.removeValue(forKey: chosen)?.channel)
        }
        if let victim {
            closes[.evicted]?.increment()
            victim.close(promise: nil)
        }
        return key
    }

    /// Records that connection `key` entered `phase`.
    func entered(_ phase: ConnectionPhase, key: Int) {
        state.withLock { s in
            s.tick += 1
            s.entries[key]?.evictable = phase.evictable
            s.entries[key]?.since = s.tick
        }
    }

    /// Forgets connection `key` (closed).
    func closed(key: Int) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// Closes `channel` for `reason`, counting it.
    func close(_ channel: any Channel, for reason: Reason) {
        closes[reason]?.increment()
        channel.close(promise: nil)
    }
}

/// One connection's guard, after the HTTP codec: sees request parts come in and response parts go
/// out, moves the connection's phase, and arms that phase's deadline on the connection's event loop.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connections: ConnectionGuard
    private var key: Int?
    private var state = ConnectionState()
    private var deadline: Scheduled<Void>?

    init(guard connections: ConnectionGuard) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        begin(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: move(.requestHead, context)
        case .end: move(.requestEnd, context)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational: move(.responseHead, context)
        case .end: move(.responseEnd, context)
        default: break
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
    }

    private func begin(_ context: ChannelHandlerContext) {
        guard key == nil else { return }
        key = connections.opened(context.channel)
        enter(.waiting, context)
    }

    private func end() {
        deadline?.cancel()
        deadline = nil
        if let key { connections.closed(key: key) }
        key = nil
    }

    private func move(_ event: ConnectionState.Event, _ context: ChannelHandlerContext) {
        let before = state.phase
        let next = state.record(event)
        if next != before { enter(next, context) }
    }

    private func enter(_ next: ConnectionPhase, _ context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        guard let key else { return }
        connections.entered(next, key: key)
        guard
            let seconds = next.deadline(
                headerTimeout: connections.headerTimeout, bodyTimeout: connections.bodyTimeout)
        else { return }
        let (channel, connections) = (context.channel, connections)
        let reason: ConnectionGuard.Reason = next == .waiting ? .headerTimeout : .bodyTimeout
        deadline = context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            connections.close(channel, for: reason)
        }
    }
}
