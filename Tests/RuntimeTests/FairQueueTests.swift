import Core
import Testing

@Suite("Fair queue: streams take turns")
struct FairQueueTests {
    struct Item: Sendable, Equatable {
        var lane: Int
        var n: Int
    }

    @Test(
        "A stream that offers 100 times more gets no more turns: the slow one loses nothing, the fast one sheds its own"
    )
    func fastStreamShedsItsOwn() {
        let queue = FairQueue<Item>(capacity: 8, laneCapacity: 4) { $0.lane }
        var evicted: [Item] = []
        var out: [Item] = []
        // Each round: the fast lane offers 100, the slow one 1, the consumer takes 2.
        for round in 0..<20 {
            for k in 0..<100 { queue.pushEvictingOldest(Item(lane: 0, n: round * 100 + k)) { evicted.append($0) } }
            queue.pushEvictingOldest(Item(lane: 1, n: round)) { evicted.append($0) }
            for _ in 0..<2 { out.append(queue.pop()!) }
        }
        #expect(out.filter { $0.lane == 1 }.map(\.n) == Array(0..<20), "the slow lane: every item, in order")
        #expect(evicted.allSatisfy { $0.lane == 0 }, "only the fast lane sheds")
        let fast = out.filter { $0.lane == 0 }.map(\.n)
        #expect(fast == fast.sorted() && fast.count == 20)
        #expect(queue.depth(lane: 0) == 3 && queue.depth(lane: 1) == 0, "its lane stays bounded")
    }

    @Test("Urgent lanes (real-time streams) take their turns before the others; lanes alternate; pops are numbered")
    func urgentFirst() {
        let queue = FairQueue<Item>(capacity: 16, laneCapacity: 8) { $0.lane }
        for n in 0..<3 { queue.push(Item(lane: 9, n: n)) }
        for n in 0..<3 {
            queue.push(Item(lane: 1, n: n), urgent: true)
            queue.push(Item(lane: 2, n: n), urgent: true)
        }
        var order: [Item] = []
        var sequence: [Int] = []
        queue.close()
        while let (s, item) = queue.popNumbered() {
            order.append(item)
            sequence.append(s)
        }
        #expect(order.map(\.lane) == [1, 2, 1, 2, 1, 2, 9, 9, 9], "\(order)")
        #expect(sequence == Array(0..<9))
        #expect(!queue.push(Item(lane: 1, n: 9)), "closed: refused")
    }
}
