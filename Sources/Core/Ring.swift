/// The most recent `capacity` elements of a sequence that may run for months, and how many there
/// were in all: a bounded record where an array would grow with uptime.
public struct Ring<Element> {
    /// How many elements it keeps at most.
    public let capacity: Int
    /// How many were appended in all, kept or not.
    public private(set) var total = 0
    private var storage: [Element] = []
    private var head = 0

    /// An empty ring keeping at most `capacity` (1 or more) elements.
    public init(capacity: Int) {
        precondition(capacity > 0, "a ring needs room for one element")
        self.capacity = capacity
        storage.reserveCapacity(min(capacity, 1024))
    }

    /// Appends `element`, dropping the oldest when full.
    public mutating func append(_ element: Element) {
        total += 1
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[head] = element
            head = (head + 1) % capacity
        }
    }

    /// Forgets everything (the total too).
    public mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        head = 0
        total = 0
    }

    /// The elements kept, oldest first.
    public var elements: [Element] { Array(storage[head...] + storage[..<head]) }

    /// How many are kept now.
    public var count: Int { storage.count }

    /// The newest element.
    public var last: Element? { storage.isEmpty ? nil : storage[(head + storage.count - 1) % storage.count] }
}

extension Ring: Sendable where Element: Sendable {}
