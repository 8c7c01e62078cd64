import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Delivers an outbox to an MQTT broker, QoS 1: each message stays in the outbox until its PUBACK.
///
/// - Topics: `<topic>/<stream>/events` (one JSON message per event), `<topic>/<stream>/counts`
///   (retained), `<topic>/available` (`online`, retained; the will, `offline`, retained).
/// - In order: messages are published in the outbox's order on one connection, at most `window`
///   unacknowledged. After a reconnect, everything still in the outbox is published again from its
///   oldest (at least once: a message whose PUBACK was lost arrives twice, with the same id).
/// - A broker that is down, refuses or stops answering: the sink says so (`retrying`, the error),
///   and connects again after a back-off from `retryMin` doubling to `retryMax` seconds. The
///   pipeline never waits for it: its outbox keeps what arrives meanwhile.
///
/// Why swift-nio rather than libmosquitto or paho.mqtt.c: the outbox is the one queue. Both C
/// clients keep their own unbounded list of messages in flight and resend it on their own after a
/// reconnect, on a thread of their own per client; here the outbox alone decides what is sent
/// again, acknowledgements arrive on the event loop the HTTP server already runs, and a publisher's
/// part of MQTT 3.1.1 (six packets) is small enough to check against the broker in the tests.
final class MQTTSink: Sendable {
    let figures: SinkFigures
    private let broker: Broker
    private let group: any EventLoopGroup
    private let logger: Logger
    /// The TLS context of an `mqtts://` broker (its roots loaded once, at start).
    private let tls: NIOSSLContext?
    /// Messages published and not yet acknowledged, at most.
    static let window = 64
    /// The keep-alive asked of the broker, in seconds.
    static let keepAlive: UInt16 = 10

    init(figures: SinkFigures, group: any EventLoopGroup, logger: Logger) throws(SinkError) {
        self.figures = figures
        broker = try figures.spec.broker()
        self.group = group
        self.logger = logger
        if broker.tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            let spec = figures.spec
            if let caFile = spec.caFile {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                } catch {
                    throw SinkError("\(spec.name): ca_file \(caFile): \(error)")
                }
            }
            do {
                tls = try NIOSSLContext(configuration: configuration)
            } catch {
                throw SinkError("\(spec.name): TLS: \(error)")
            }
        } else {
            tls = nil
        }
    }

    private var spec: SinkSpec { figures.spec }
    private var outbox: Outbox { figures.outbox }
    private var available: String { spec.topic + "/available" }

    /// Runs until the task is cancelled; then says `offline` and disconnects.
    func run() async {
        let inbox = SinkInbox()
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await _ in self.outbox.wake { inbox.wake() }
            }
            tasks.addTask {
                await self.deliver(inbox)
                inbox.finish()
            }
            await tasks.next()
            tasks.cancelAll()
        }
        figures.moved(to: .stopped)
    }

    private func deliver(_ inbox: SinkInbox) async {
        var iterator = inbox.cues.makeAsyncIterator()
        var backoff = spec.retryMin
        var generation = 0
        /// The highest sequence ever published: one at or below it, published again, is a retry.
        var highest: Int64 = 0
        while !Task.isCancelled {
            generation += 1
            let current = generation
            figures.moved(to: .connecting)
            let failure: String
            do {
                let connection = try await MQTTConnection.connect(
                    to: broker, clientID: spec.clientID ?? "batchline-\(spec.name)", keepAlive: Self.keepAlive,
                    will: .init(topic: available, payload: Array("offline".utf8), retain: true),
                    timeout: spec.timeout, tls: tls, group: group,
                    tell: { inbox.tell($0, generation: current) })
                figures.moved(to: .connected)
                logger.info("sink \(spec.name): connected to \(broker.host):\(broker.port)")
                backoff = spec.retryMin
                guard
                    let reason = await pump(
                        connection, generation: current, inbox: inbox, cues: &iterator, highest: &highest)
                else {
                    // Cancelled: the service stops.
                    connection.publish(topic: available, payload: Array("offline".utf8), id: nil, retain: true)
                    await connection.disconnect()
                    break
                }
                await connection.close()
                failure = reason
            } catch {
                failure = error.description
            }
            figures.moved(to: .retrying, error: failure)
            logger.warning("sink \(spec.name): \(failure); retrying in \(backoff) s")
            guard (try? await Task.sleep(for: .seconds(backoff))) != nil else { break }
            backoff = min(backoff * 2, spec.retryMax)
        }
    }

    /// Publishes what the outbox holds and removes what the broker acknowledges (every
    /// acknowledgement that arrived since the last look, in one transaction), until the connection
    /// closes (its reason) or the task is cancelled (nil).
    private func pump(
        _ connection: MQTTConnection, generation: Int, inbox: SinkInbox,
        cues: inout AsyncStream<Void>.Iterator, highest: inout Int64
    ) async -> String? {
        var inflight: [UInt16: Outbox.Message] = [:]
        var after: Int64 = 0
        /// The last read found everything the outbox holds: no read again until it takes more.
        var caughtUp = false
        var nextID: UInt16 = 0
        func allocate() -> UInt16 {
            repeat { nextID = nextID == .max ? 1 : nextID + 1 } while inflight[nextID] != nil || nextID == 0
            return nextID
        }
        // `online` first, acknowledged like any message but not from the outbox.
        let onlineID = allocate()
        connection.publish(topic: available, payload: Array("online".utf8), id: onlineID, retain: true)
        connection.flush()
        while !Task.isCancelled {
            // Fill the window from the outbox, in order.
            do {
                var retried = 0
                while inflight.count < Self.window, !caughtUp {
                    let limit = Self.window - inflight.count
                    let batch = try await outbox.next(after: after, limit: limit)
                    caughtUp = batch.count < limit
                    for m in batch {
                        let id = allocate()
                        inflight[id] = m
                        let suffix = m.kind == .counts ? "counts" : "events"
                        connection.publish(
                            topic: "\(spec.topic)/\(m.stream)/\(suffix)", payload: m.payload, id: id,
                            retain: m.kind == .counts, dup: m.seq <= highest)
                        if m.seq <= highest { retried += 1 }
                        highest = max(highest, m.seq)
                        after = m.seq
                    }
                    connection.flush()
                }
                figures.retried(retried)
            } catch {
                return "the outbox cannot be read: \(Outbox.describe(error))"
            }
            guard await cues.next() != nil else { return nil }
            let news = inbox.take(generation: generation)
            if news.appended { caughtUp = false }
            let acked = news.acks.compactMap { inflight.removeValue(forKey: $0) }
            if !acked.isEmpty {
                do {
                    try await outbox.remove(acked.map(\.seq))
                } catch {
                    return "the outbox cannot be written: \(Outbox.describe(error))"
                }
                figures.delivered(acked)
            }
            if let reason = news.closed { return reason }
            await figures.refresh()
        }
        return nil
    }
}

/// What happened since the sink's worker last looked: acknowledgements, a close, appends to the
/// outbox. Each is kept here and cued on a stream that holds one cue at most, so that the worker
/// wakes once for however many arrived and takes them all (one outbox transaction for a burst of
/// PUBACKs). Bounded: acknowledgements are at most the window per connection.
final class SinkInbox: Sendable {
    struct News {
        var acks: [UInt16] = []
        var closed: String?
        /// The outbox took something.
        var appended = false
    }

    /// Acknowledgements kept between two looks, at most: a broker's are at most the window; more are
    /// not answers to anything (a hostile or broken broker) and are dropped.
    static let maxAcks = 4 * MQTTSink.window

    private struct State {
        var generation = 0
        var news = News()
        /// Whatever the connection: an append is news to the next look.
        var appended = false
    }

    private let state = Mutex(State())
    private let cue: AsyncStream<Void>.Continuation
    let cues: AsyncStream<Void>

    init() { (cues, cue) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1)) }

    /// The connection of `generation` said `inbound`; an earlier connection's last words are dropped.
    func tell(_ inbound: MQTTInbound, generation: Int) {
        state.withLock { s in
            if generation > s.generation {
                s.generation = generation
                s.news = News()
            }
            guard generation == s.generation else { return }
            switch inbound {
            case .ack(let id): if s.news.acks.count < Self.maxAcks { s.news.acks.append(id) }
            case .closed(let reason): s.news.closed = s.news.closed ?? reason
            }
        }
        cue.yield()
    }

    /// The outbox took something.
    func wake() {
        state.withLock { $0.appended = true }
        cue.yield()
    }

    /// What connection `generation` said since the last look.
    func take(generation: Int) -> News {
        state.withLock { s in
            var news = News()
            if s.generation == generation { swap(&news, &s.news) }
            news.appended = s.appended
            s.appended = false
            return news
        }
    }

    func finish() { cue.finish() }
}
