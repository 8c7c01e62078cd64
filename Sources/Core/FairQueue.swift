import Foundation

/// A blocking queue shared by several producers (a pipeline's streams) that hands their elements out
/// fairly: each producer has its own lane of `laneCapacity`, and `pop` takes one element from each
/// lane in turn, urgent lanes (real-time streams) before the others. A producer that offers 1000
/// frames a second gets no more turns than one that offers 10: it fills its own lane and sheds or
/// waits there, and never takes another lane's room or turn.
///
/// Bounded: at most `laneCapacity` elements per lane, and lanes exist only while they hold elements.
/// When a lane is full, `push` waits for room in it (back-pressure on that producer alone), and
/// `pushEvictingOldest` makes room by evicting that lane's own oldest element (never another's).
/// `close()` wakes everyone: later pushes are refused and pops drain what is left, then return nil.
///
/// `@unchecked Sendable`: all state is guarded by `condition`.
public final class FairQueue<Element: Sendable>: @unchecked Sendable {
    private struct Lane {
        var items: [Element] = []
        var head = 0
        var urgent: Bool
        var count: Int { items.count - head }

        mutating func removeFirst() -> Element {
            let element = items[head]
            head += 1
            if head > 32 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return element
        }
    }

    /// The most elements one lane holds.
    public let laneCapacity: Int
    /// What the queue reports as its capacity (the depth it is compared against).
    public let capacity: Int
    private let lane: @Sendable (Element) -> Int
    private let condition = NSCondition()
    private var lanes: [Int: Lane] = [:]
    /// Lanes holding elements, in the order they take turns.
    private var turns: [Int] = []
    private var cursor = 0
    private var count = 0
    private var closed = false
    private var highWater = 0
    private var popped = 0

    /// A queue whose lanes hold `laneCapacity` elements each; `lane` says which lane an element
    /// belongs to; `capacity` is what `depth` is reported against (at least one lane's).
    public init(capacity: Int, laneCapacity: Int, lane: @escaping @Sendable (Element) -> Int) {
        precondition(laneCapacity > 0, "a lane needs room for one element")
        self.laneCapacity = laneCapacity
        self.capacity = max(capacity, laneCapacity)
        self.lane = lane
    }

    /// Appends `element` to its lane, waiting while that lane is full. `urgent` lanes take their
    /// turns first. Returns false if the queue was closed.
    @discardableResult
    public func push(_ element: Element, urgent: Bool = false) -> Bool {
        let key = lane(element)
        condition.lock()
        defer { condition.unlock() }
        while !closed && (lanes[key]?.count ?? 0) >= laneCapacity { condition.wait() }
        guard !closed else { return false }
        appendLocked(element, key: key, urgent: urgent)
        return true
    }

    /// Appends `element` without ever waiting: when its lane is full, the lane's own oldest element
    /// makes room and `evicted` hears it while the lock is still held (so that its record is in
    /// before any consumer can see what followed it). Returns false if the queue was closed.
    @discardableResult
    public func pushEvictingOldest(_ element: Element, urgent: Bool = false, evicted: (Element) -> Void) -> Bool {
        let key = lane(element)
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        if (lanes[key]?.count ?? 0) >= laneCapacity {
            evicted(lanes[key]!.removeFirst())
            count -= 1
        }
        appendLocked(element, key: key, urgent: urgent)
        return true
    }

    private func appendLocked(_ element: Element, key: Int, urgent: Bool) {
        if lanes[key] == nil {
            lanes[key] = Lane(urgent: urgent)
            turns.append(key)
        }
        lanes[key]!.items.append(element)
        count += 1
        highWater = max(highWater, count)
        condition.broadcast()
    }

    /// Removes the next element in turn, waiting while the queue is empty; with how many elements
    /// were popped before it (a sequence number several consumers can restore the order by, see
    /// `ReorderBuffer`). Nil once closed and drained.
    public func popNumbered() -> (sequence: Int, element: Element)? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed { condition.wait() }
        guard count > 0 else { return nil }
        // The next urgent lane in turn, else the next lane in turn.
        let n = turns.count
        let start = cursor % n
        let offsets = 0..<n
        let pick =
            offsets.first { lanes[turns[(start + $0) % n]]!.urgent }.map { (start + $0) % n } ?? start
        let key = turns[pick]
        let element = lanes[key]!.removeFirst()
        count -= 1
        if lanes[key]!.count == 0 {
            lanes[key] = nil
            turns.remove(at: pick)
            cursor = pick
        } else {
            cursor = pick + 1
        }
        condition.broadcast()
        defer { popped += 1 }
        return (popped, element)
    }

    /// Removes the next element in turn; nil once closed and drained.
    public func pop() -> Element? { popNumbered()?.element }

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

    /// Elements waiting in `lane` now.
    public func depth(lane key: Int) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return lanes[key]?.count ?? 0
    }
}
