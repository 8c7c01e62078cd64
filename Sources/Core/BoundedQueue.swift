import Foundation

/// A blocking first-in first-out queue with a fixed capacity, for handing work between threads.
///
/// When full, `push` blocks the producer until a consumer makes room (back-pressure: a slow stage
/// slows the source instead of growing memory). `close()` wakes everyone: later pushes are refused
/// and pops drain what is left, then return nil.
///
/// `@unchecked Sendable`: all state is guarded by `condition`.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    /// The most elements the queue holds.
    public let capacity: Int
    private let condition = NSCondition()
    private var items: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    private var highWater = 0
    private var popped = 0

    /// Creates a queue holding at most `capacity` elements.
    public init(capacity: Int) {
        precondition(capacity > 0, "a queue needs room for one element")
        self.capacity = capacity
        items = Array(repeating: nil, count: capacity)
    }

    /// Appends `element`, blocking while the queue is full. Returns false if the queue was closed.
    @discardableResult
    public func push(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count == capacity && !closed { condition.wait() }
        guard !closed else { return false }
        items[(head + count) % capacity] = element
        count += 1
        highWater = max(highWater, count)
        condition.broadcast()
        return true
    }

    /// Removes the oldest element, blocking while the queue is empty; nil once closed and drained.
    public func pop() -> Element? { popNumbered()?.element }

    /// `pop`, also returning how many elements were popped before this one: a sequence
    /// number that several consumers can use to restore the order (see `ReorderBuffer`).
    public func popNumbered() -> (sequence: Int, element: Element)? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed { condition.wait() }
        guard let element = takeLocked() else { return nil }
        defer { popped += 1 }
        return (popped, element)
    }

    /// Like `pop`, but gives up at `deadline` (seconds on `Clock.now`) and returns `.timedOut`.
    public func pop(until deadline: Double) -> PopResult<Element> {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed {
            let left = deadline - Clock.now
            if left <= 0 { return .timedOut }
            _ = condition.wait(until: Date(timeIntervalSinceNow: left))
        }
        if let element = takeLocked() { return .element(element) }
        return .closed
    }

    private func takeLocked() -> Element? {
        guard count > 0 else { return nil }
        let element = items[head]
        items[head] = nil
        head = (head + 1) % capacity
        count -= 1
        condition.broadcast()
        return element
    }

    /// Refuses further pushes and wakes every waiting thread.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Elements waiting now, and the most that ever waited at once.
    public var depth: (now: Int, highWater: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (count, highWater)
    }
}

/// What a timed pop found.
public enum PopResult<Element> {
    /// An element.
    case element(Element)
    /// Nothing arrived before the deadline.
    case timedOut
    /// The queue is closed and empty.
    case closed
}
