import Foundation

/// Puts items finished out of order by several workers back into sequence order.
///
/// Workers `insert` items numbered 0, 1, 2, ...; the consumer takes them strictly in that order.
/// Bounded: a worker whose item is `capacity` or more ahead of the next one due waits, so a slow
/// item cannot let the others pile up. `close()` is called once every worker is done.
///
/// `@unchecked Sendable`: all state is guarded by `condition`.
public final class ReorderBuffer<Element: Sendable>: @unchecked Sendable {
    /// How far ahead of the next due item a worker may insert.
    public let capacity: Int
    private let condition = NSCondition()
    private var items: [Int: Element] = [:]
    /// Items outside the sequence (requests that skip decoding), taken before the next in sequence.
    private var urgent: [Element] = []
    /// How many urgent items may wait.
    public let urgentCapacity: Int
    private var next = 0
    private var closed = false
    private var highWater = 0

    /// Creates a buffer holding at most `capacity` items.
    public init(capacity: Int, urgentCapacity: Int = 64) {
        precondition(capacity > 0, "a reorder buffer needs room for one item")
        self.capacity = capacity
        self.urgentCapacity = urgentCapacity
    }

    /// Adds an item outside the sequence, taken before the next in sequence; false (and not added)
    /// when `urgentCapacity` items wait already or the buffer is closed: the caller refuses it.
    public func insertUrgent(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, urgent.count < urgentCapacity else { return false }
        urgent.append(element)
        condition.broadcast()
        return true
    }

    /// Adds item number `sequence`, waiting while it is too far ahead. Returns false once closed.
    @discardableResult
    public func insert(_ element: Element, sequence: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while sequence >= next + capacity && !closed { condition.wait() }
        guard !closed else { return false }
        items[sequence] = element
        highWater = max(highWater, items.count)
        condition.broadcast()
        return true
    }

    /// The next item in sequence, waiting for it until `deadline` (seconds on `Clock.now`).
    public func popNext(until deadline: Double = .infinity) -> PopResult<Element> {
        condition.lock()
        defer { condition.unlock() }
        while items[next] == nil {
            if !urgent.isEmpty { return .element(urgent.removeFirst()) }
            if closed { return .closed }
            if deadline == .infinity {
                condition.wait()
            } else {
                let left = deadline - Clock.now
                if left <= 0 { return .timedOut }
                _ = condition.wait(until: Date(timeIntervalSinceNow: left))
            }
        }
        let element = items.removeValue(forKey: next)!
        next += 1
        condition.broadcast()
        return .element(element)
    }

    /// No more inserts: the consumer drains what is in sequence, then sees `.closed`.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Items waiting now, and the most that ever waited at once.
    public var depth: (now: Int, highWater: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (items.count + urgent.count, highWater)
    }
}
