import Analytics
import Batching
import Core
import EdgeNode
import Foundation
import Hummingbird
import Logging
import ModelServing
import Monitoring
import NIOCore
import Runtime
import ServiceLifecycle
import Synchronization

/// `GET /api/v1/events`: a live feed as Server-Sent Events. Stream state changes (`event: stream`;
/// on connecting, every stream's state as it is),
/// batch size decisions (`event: decision`), model swaps (`event: swap`), and once a second every
/// stream's figures (`event: figures`).
///
/// The node tells its events where they happen (`EdgeService.events`: a stream's state changed where
/// its source or output moved it, a decision where the batch size manager recorded it, a swap where
/// it ended); the feed relays them on its own task, and samples the figures once a second: it never
/// touches a pipeline's threads. Each client has a bounded buffer (`clientBuffer` events); a client that
/// lets it fill (stopped reading) is dropped, so a slow client never slows anything but itself.
/// At most `clientLimit` at once (`maxClients`, or half the server's connections when that is
/// fewer, so that feed clients that stop reading can never take every connection and keep a health
/// probe out); past that, 503.
///
/// A client that stops reading fills its TCP buffers first, which can take megabytes before its
/// buffer here fills. So its connection's buffers are kept small (`sendBuffer` bytes in the kernel
/// and `waterMark` in NIO at most, on top of what the client's own receive window takes: a stalled
/// client is found within seconds and holds little kernel memory), and a write that has waited
/// `writeTimeout` seconds for the client drops it: its connection is closed and its slot freed
/// (checked once a second).
public final class EventFeed: Service, Sendable {
    /// Events a client may have waiting, by default.
    public static let defaultClientBuffer = 256
    /// Events a client may have waiting.
    public let clientBuffer: Int
    /// Clients at once, at most.
    public static let maxClients = 32
    /// Clients at once, for this server.
    public let clientLimit: Int

    /// Bytes of kernel send buffer a feed connection asks for (Linux doubles it): a few seconds of
    /// the feed at most.
    public static let sendBuffer = 4 << 10
    /// Bytes NIO holds for a client before the channel stops being writable (its high water mark).
    public static let waterMark = 4 << 10

    /// One client: its buffer, how to close its connection, since when a write waits for it.
    private final class Client: Sendable {
        let continuation: AsyncStream<ByteBuffer>.Continuation
        let close: @Sendable () -> Void
        /// When the write under way began (`ContinuousClock` nanoseconds since `origin`); 0: none.
        let writingSince = Atomic<Int64>(0)

        init(continuation: AsyncStream<ByteBuffer>.Continuation, close: @escaping @Sendable () -> Void) {
            self.continuation = continuation
            self.close = close
        }
    }

    /// Seconds a write may wait for a client before it is dropped.
    public let writeTimeout: Double
    private let origin = ContinuousClock.now

    private let service: EdgeService
    private let clients = Mutex<[Int: Client]>([:])
    private let nextID = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let logger: Logger

    private let sampler: ResourceMonitor?
    private let cgroupLimit = ResourceMonitor.cgroupMemoryLimit()

    public init(
        service: EdgeService, logger: Logger, clientBuffer: Int = EventFeed.defaultClientBuffer,
        sampler: ResourceMonitor? = nil, writeTimeout: Double = ServerLimits().feedWriteTimeout,
        connections: Int = .max
    ) {
        clientLimit = max(1, min(Self.maxClients, connections / 2))
        self.writeTimeout = writeTimeout
        self.service = service
        self.logger = logger
        self.clientBuffer = clientBuffer
        self.sampler = sampler
    }

    /// Clients dropped for not reading.
    public var droppedClients: Int { dropped.load(ordering: .relaxed) }

    /// A new client's feed; nil when `clientLimit` are connected.
    public func subscribe() -> AsyncStream<ByteBuffer>? {
        subscribeClient(close: {})?.1
    }

    /// A response body for a client on `channel`: its feed, written with each write watched (see
    /// `writeTimeout`), the channel's buffers made small; nil when `clientLimit` are connected.
    func body(on channel: any Channel) async -> ResponseBody? {
        guard let (client, stream) = subscribeClient(close: { channel.close(promise: nil) }) else { return nil }
        // Both may fail on a channel that is no socket (a test's): its buffers are then not ours.
        try? await channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: Self.sendBuffer).get()
        try? await channel.setOption(
            ChannelOptions.writeBufferWaterMark, value: .init(low: Self.waterMark / 2, high: Self.waterMark)
        ).get()
        let origin = origin
        return ResponseBody { writer in
            for await message in stream {
                client.writingSince.store(max(1, Self.nanoseconds(since: origin)), ordering: .relaxed)
                try await writer.write(message)
                client.writingSince.store(0, ordering: .relaxed)
            }
            try await writer.finish(nil)
        }
    }

    private func subscribeClient(close: @escaping @Sendable () -> Void) -> (Client, AsyncStream<ByteBuffer>)? {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream(
            bufferingPolicy: .bufferingOldest(clientBuffer))
        let client = Client(continuation: continuation, close: close)
        let admitted = clients.withLock { c in
            guard c.count < clientLimit else { return false }
            c[id] = client
            return true
        }
        guard admitted else { return nil }
        continuation.onTermination = { [weak self] _ in _ = self?.clients.withLock { $0.removeValue(forKey: id) } }
        continuation.yield(ByteBuffer(string: ": batchline event feed\nretry: 2000\n\n"))
        // Where every stream stands now (`from` absent), so a client that joins late misses no state.
        for s in service.streams {
            let now = StreamChange(
                stream: s.id, from: nil, to: s.state.rawValue, lastError: s.lastError, reconnects: s.reconnects)
            if let message = Self.message("stream", now) { continuation.yield(message) }
        }
        return (client, stream)
    }

    /// Drops clients whose write has waited more than `writeTimeout`: slot freed, connection closed.
    func dropStalled() {
        let now = Self.nanoseconds(since: origin)
        let limit = Int64(writeTimeout * 1e9)
        let stalled = clients.withLock { c in
            c.filter { _, client in
                let since = client.writingSince.load(ordering: .relaxed)
                return since != 0 && now - since > limit
            }
        }
        for (id, _) in stalled { drop(id, "a write waited \(writeTimeout) s for it") }
    }

    static func nanoseconds(since origin: ContinuousClock.Instant) -> Int64 {
        let d = (ContinuousClock.now - origin).components
        return d.seconds * 1_000_000_000 + d.attoseconds / 1_000_000_000
    }

    /// Removes client `id` (when still there), ends its feed and closes its connection.
    private func drop(_ id: Int, _ reason: String) {
        guard let client = clients.withLock({ $0.removeValue(forKey: id) }) else { return }
        client.continuation.finish()
        client.close()
        dropped.wrappingAdd(1, ordering: .relaxed)
        logger.notice("event feed: a client stopped reading and was dropped (\(reason))", metadata: ["client": "\(id)"])
    }

    /// One Server-Sent Event.
    static func message(_ event: String, _ payload: some Encodable) -> ByteBuffer? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(payload), let json = String(data: data, encoding: .utf8) else {
            return nil
        }
        return ByteBuffer(string: "event: \(event)\ndata: \(json)\n\n")
    }

    /// Sends `event` to every client; a client whose buffer is full is dropped.
    public func publish(_ event: String, _ payload: some Encodable) {
        guard let message = Self.message(event, payload) else { return }
        let all = clients.withLock { Array($0) }
        for (id, client) in all {
            if case .dropped = client.continuation.yield(message) {
                drop(id, "its buffer of \(clientBuffer) events is full")
            }
        }
    }

    struct Decision: Encodable {
        var model: String
        var decision: BatchDecision
    }

    struct Analytics: Encodable {
        var stream: String
        var event: AnalyticsEvent
    }

    struct Swap: Encodable {
        var model: String
        var swap: SwapRecord
    }

    struct ModelFigures: Encodable {
        var model: String
        var version: Int
        var policy: String
        var batch_size: Int
        var requests_in_flight: Int
        var latency_slo_s: Double
        var decision_count: Int
    }

    struct SystemFigures: Encodable {
        var process_cpu_pct: Double
        var system_cpu_pct: Double
        var rss_bytes: Int
        var cgroup_usage_bytes: Int?
        var cgroup_limit_bytes: Int?
        var gpus: [GPUSample]
    }

    struct Figures: Encodable {
        var time: Double
        var streams: [StreamInfo]
        var models: [ModelFigures]
        var system: SystemFigures?
    }

    /// Until graceful shutdown: what the node tells, as it is told, and the figures once a second.
    public func run() async throws {
        guard let told = service.events.subscribe() else {
            logger.error("event feed: the node's event hub takes no more listeners; only figures are sent")
            try await figuresEverySecond()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                for await event in told { self.tell(event) }
            }
            group.addTask { [self] in try? await self.figuresEverySecond() }
            await group.next()
            group.cancelAll()
        }
        for client in clients.withLock({ Array($0.values) }) { client.continuation.finish() }
    }

    /// One event of the node, to every client.
    func tell(_ event: NodeEvent) {
        switch event {
        case .stream(let change):
            publish("stream", change)
        case .decision(let model, let decision):
            publish("decision", Decision(model: model, decision: decision))
        case .swap(let model, let record):
            publish("swap", Swap(model: model, swap: record))
        case .analytics(let stream, let event):
            publish("analytics", Analytics(stream: stream, event: event))
        }
    }

    /// The figures, once a second, until cancelled or graceful shutdown.
    private func figuresEverySecond() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            figures()
            dropStalled()
            try await Task.sleep(for: .seconds(1))
        }
    }

    private func figures() {
        let streams = service.streams
        let models = service.servedModels.compactMap { p -> ModelFigures? in
            guard let d = p.modelDescription else { return nil }
            let b = p.batching(keep: 0)
            return ModelFigures(
                model: d.name, version: p.models?.status.version ?? d.version, policy: b.policy,
                batch_size: b.batchSize,
                requests_in_flight: b.requestsInFlight, latency_slo_s: b.latencySLO, decision_count: b.decisionCount)
        }
        let system = sampler?.recent.last.map { s in
            SystemFigures(
                process_cpu_pct: s.processCPU, system_cpu_pct: s.systemCPU, rss_bytes: s.rssBytes,
                cgroup_usage_bytes: s.cgroupUsageBytes, cgroup_limit_bytes: cgroupLimit, gpus: s.gpus)
        }
        publish(
            "figures", Figures(time: Date().timeIntervalSince1970, streams: streams, models: models, system: system))
    }
}
