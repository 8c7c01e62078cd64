import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Delivers an outbox to a webhook: one `POST` of JSON per event, in order; an event leaves the
/// outbox only when the receiver answered 2xx. Any other answer, a timeout or a refused connection
/// is retried, the same event, after a back-off from `retryMin` doubling to `retryMax` seconds (so
/// a receiver that refuses one event for good holds the ones behind it until it takes it, or until
/// the outbox's bound drops it: at least once, in order). Each request carries the event's id in
/// `Idempotency-Key`, so that a receiver can drop a second copy.
final class WebhookSink: Sendable {
    let figures: SinkFigures
    private let client: HTTPClient
    private let logger: Logger

    init(figures: SinkFigures, client: HTTPClient, logger: Logger) {
        self.figures = figures
        self.client = client
        self.logger = logger
    }

    private var spec: SinkSpec { figures.spec }
    private var outbox: Outbox { figures.outbox }

    /// Runs until the task is cancelled.
    func run() async {
        var wake = outbox.wake.makeAsyncIterator()
        var backoff = spec.retryMin
        var after: Int64 = 0
        defer { figures.moved(to: .stopped) }
        while !Task.isCancelled {
            let batch: [Outbox.Message]
            do {
                batch = try await outbox.next(after: after, limit: 32)
            } catch {
                figures.moved(to: .retrying, error: "the outbox cannot be read: \(Outbox.describe(error))")
                guard (try? await Task.sleep(for: .seconds(spec.retryMax))) != nil else { return }
                continue
            }
            if batch.isEmpty {
                guard await wake.next() != nil else { return }
                continue
            }
            for message in batch {
                var attempt = 0
                while true {
                    if Task.isCancelled { return }
                    if let failure = await post(message) {
                        attempt += 1
                        figures.retried(1)
                        figures.moved(to: .retrying, error: failure)
                        if attempt == 1 { logger.warning("sink \(spec.name): \(failure); retrying") }
                        guard (try? await Task.sleep(for: .seconds(backoff))) != nil else { return }
                        backoff = min(backoff * 2, spec.retryMax)
                        continue
                    }
                    backoff = spec.retryMin
                    figures.moved(to: .connected)
                    break
                }
                do {
                    try await outbox.remove([message.seq])
                } catch {
                    figures.moved(to: .retrying, error: "the outbox cannot be written: \(Outbox.describe(error))")
                }
                figures.delivered([message])
                after = message.seq
            }
            await figures.refresh()
        }
    }

    /// Posts one message; nil when the receiver took it, else why not.
    private func post(_ message: Outbox.Message) async -> String? {
        var request = HTTPClientRequest(url: spec.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: message.key)
        for (name, value) in spec.headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: message.payload))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(spec.timeout * 1000)))
            // The answer's body is not needed: a little of it is read, within the timeout (the
            // client's deadline ends at the answer's head; a receiver that trickles its body must
            // not hold the sink), and the rest let go.
            let timeout = spec.timeout
            await withTaskGroup(of: Void.self) { group in
                group.addTask { _ = try? await response.body.collect(upTo: 64 << 10) }
                group.addTask { try? await Task.sleep(for: .seconds(timeout)) }
                await group.next()
                group.cancelAll()
            }
            guard (200..<300).contains(response.status.code) else { return "HTTP \(response.status.code)" }
            return nil
        } catch {
            return "\(error)"
        }
    }
}
