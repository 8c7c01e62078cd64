/// Moves a non-Sendable object to the one thread that uses it from then on.
///
/// `@unchecked Sendable`: the sender gives the value up at the hand-off and never touches it again.
public struct Handoff<Value>: @unchecked Sendable {
    /// The object handed off.
    public private(set) var value: Value

    /// Wraps `value` for the hand-off.
    public init(_ value: Value) { self.value = value }
}

extension Handoff {
    /// Takes an optional value out, leaving nil: whoever takes it is its only owner.
    public mutating func take<Wrapped>() -> Wrapped? where Value == Wrapped? {
        defer { value = nil }
        return value
    }
}
