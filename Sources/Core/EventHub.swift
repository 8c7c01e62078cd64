import Synchronization

/// Tells whoever listens what happened, as it happens: `publish` hands an event to every
/// subscriber's own bounded buffer and returns at once (it never waits for a reader, so the thread
/// where the thing happened is never slowed by who listens).
///
/// Bounded: at most `maxSubscribers` at once, each holding at most `buffer` events; a subscriber
/// whose buffer is full (it stopped reading) is dropped, its stream finished, and counted in
/// `dropped`. A subscriber that ends its iteration is forgotten at once.
public final class EventHub<Event: Sendable>: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<Event>.Continuation] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())
    private let droppedCount = Atomic<Int>(0)
    /// Events a subscriber may have waiting.
    public let buffer: Int
    /// Subscribers at once.
    public let maxSubscribers: Int

    /// A hub whose subscribers may each have `buffer` events waiting; `maxSubscribers` at once.
    public init(buffer: Int = 4096, maxSubscribers: Int = 16) {
        self.buffer = max(1, buffer)
        self.maxSubscribers = max(1, maxSubscribers)
    }

    /// Subscribers dropped for not reading.
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// Subscribers now.
    public var subscribers: Int { state.withLock { $0.subscribers.count } }

    /// Every event published from now on, in order; nil when `maxSubscribers` listen already.
    public func subscribe() -> AsyncStream<Event>? {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingOldest(buffer))
        let id: UInt64? = state.withLock { s in
            guard s.subscribers.count < maxSubscribers else { return nil }
            defer { s.next += 1 }
            s.subscribers[s.next] = continuation
            return s.next
        }
        guard let id else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.subscribers[id] = nil } }
        return stream
    }

    /// Hands `event` to every subscriber; one whose buffer is full is dropped.
    public func publish(_ event: Event) {
        let all = state.withLock { Array($0.subscribers) }
        for (id, continuation) in all {
            if case .dropped = continuation.yield(event) {
                _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
                droppedCount.wrappingAdd(1, ordering: .relaxed)
                continuation.finish()
            }
        }
    }

    /// Ends every subscriber's stream (after what it holds).
    public func finish() {
        let all = state.withLock { s in
            defer { s.subscribers = [:] }
            return Array(s.subscribers.values)
        }
        for continuation in all { continuation.finish() }
    }
}
