import Batching
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
/// The feed is made once a second from the service's own records, on its own task: it never touches
/// a pipeline's threads. Each client has a bounded buffer (`clientBuffer` events); a client that
/// lets it fill (stopped reading) is dropped, so a slow client never slows anything but itself.
/// At most `maxClients` at once.
public final class EventFeed: Service, Sendable {
    /// Events a client may have waiting, by default.
    public static let defaultClientBuffer = 256
    /// Events a client may have waiting.
    public let clientBuffer: Int
    /// Clients at once.
    public static let maxClients = 32

    private struct Client {
        var continuation: AsyncStream<ByteBuffer>.Continuation
    }

    private struct Seen {
        var states: [String: StreamPhase] = [:]
        var decisions: [String: Int] = [:]
        var swaps: [String: Int] = [:]
    }

    private let service: EdgeService
    private let clients = Mutex<[Int: Client]>([:])
    private let nextID = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let logger: Logger

    private let sampler: ResourceMonitor?
    private let cgroupLimit = ResourceMonitor.cgroupMemoryLimit()

    public init(
        service: EdgeService, logger: Logger, clientBuffer: Int = EventFeed.defaultClientBuffer,
        sampler: ResourceMonitor? = nil
    ) {
        self.service = service
        self.logger = logger
        self.clientBuffer = clientBuffer
        self.sampler = sampler
    }

    /// Clients dropped for not reading.
    public var droppedClients: Int { dropped.load(ordering: .relaxed) }

    /// A new client's feed; nil when `maxClients` are connected.
    public func subscribe() -> AsyncStream<ByteBuffer>? {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream(
            bufferingPolicy: .bufferingOldest(clientBuffer))
        let admitted = clients.withLock { c in
            guard c.count < Self.maxClients else { return false }
            c[id] = Client(continuation: continuation)
            return true
        }
        guard admitted else { return nil }
        continuation.onTermination = { [weak self] _ in _ = self?.clients.withLock { $0.removeValue(forKey: id) } }
        continuation.yield(ByteBuffer(string: ": batchline event feed\nretry: 2000\n\n"))
        // Where every stream stands now (`from` absent), so a client that joins late misses no state.
        for s in service.streams {
            let now = StateChange(
                stream: s.id, from: nil, to: s.state.rawValue, last_error: s.lastError, reconnects: s.reconnects)
            if let message = Self.message("stream", now) { continuation.yield(message) }
        }
        return stream
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
                client.continuation.finish()
                _ = clients.withLock { $0.removeValue(forKey: id) }
                dropped.wrappingAdd(1, ordering: .relaxed)
                logger.notice("event feed: a client stopped reading and was dropped", metadata: ["client": "\(id)"])
            }
        }
    }

    struct StateChange: Encodable {
        var stream: String
        var from: String?
        var to: String
        var last_error: String?
        var reconnects: Int
    }

    struct Decision: Encodable {
        var model: String
        var decision: BatchDecision
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

    /// Once a second until graceful shutdown: what changed, and the figures.
    public func run() async throws {
        var seen = Seen()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            tick(&seen)
            try? await Task.sleep(for: .seconds(1))
        }
        for client in clients.withLock({ Array($0.values) }) { client.continuation.finish() }
    }

    private func tick(_ seen: inout Seen) {
        let streams = service.streams
        var present: Set<String> = []
        for s in streams {
            present.insert(s.id)
            let before = seen.states[s.id]
            if before != s.state {
                publish(
                    "stream",
                    StateChange(
                        stream: s.id, from: before?.rawValue, to: s.state.rawValue, last_error: s.lastError,
                        reconnects: s.reconnects))
                seen.states[s.id] = s.state
            }
        }
        for gone in seen.states.keys where !present.contains(gone) {
            publish(
                "stream",
                StateChange(
                    stream: gone, from: seen.states[gone]?.rawValue, to: "removed", last_error: nil, reconnects: 0))
            seen.states[gone] = nil
        }
        for p in service.servedModels {
            guard let name = p.modelDescription?.name else { continue }
            let b = p.batching(keep: 50)
            let new = b.decisionCount - (seen.decisions[name] ?? 0)
            if new > 0 {
                for d in b.decisions.suffix(min(new, 50)) { publish("decision", Decision(model: name, decision: d)) }
            }
            seen.decisions[name] = b.decisionCount
            // A swap is told once it ended (swapped, rejected, refused, rolled back, abandoned).
            let last = seen.swaps[name] ?? 0
            let records = p.models?.records ?? []
            let done = records.filter { $0.id > last && $0.outcome != .staged }
            for r in done { publish("swap", Swap(model: name, swap: r)) }
            if let newest = done.map(\.id).max() { seen.swaps[name] = newest }
        }
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
