import Foundation

/// A flag that, once raised, stays raised and wakes every thread sleeping on it: pacing,
/// reconnect back-off and sampling threads sleep until their deadline or until stopped, whichever
/// comes first, instead of polling a flag.
///
/// Signals form a tree: raising one raises its children (a pipeline's stop stops every stream of
/// it; a stream's own stop stops that stream alone). Children are held weakly, so a parent that
/// lives for months keeps only those still alive.
///
/// `@unchecked Sendable`: all state is guarded by `condition`.
public final class StopSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var raised = false
    private var children: [Weak] = []

    private struct Weak {
        weak var signal: StopSignal?
    }

    /// Not raised.
    public init() {}

    /// A signal raised with this one (and on its own by `raise()`); raised at once if this one is.
    public func child() -> StopSignal {
        let child = StopSignal()
        condition.lock()
        let already = raised
        if !already {
            children.removeAll { $0.signal == nil }
            children.append(Weak(signal: child))
        }
        condition.unlock()
        if already { child.raise() }
        return child
    }

    /// Raises it (and its children), waking everyone sleeping on it. Raising twice does nothing more.
    public func raise() {
        condition.lock()
        let first = !raised
        raised = true
        let kids = children.compactMap(\.signal)
        children = []
        condition.broadcast()
        condition.unlock()
        if first { for kid in kids { kid.raise() } }
    }

    /// Whether it was raised.
    public var isRaised: Bool {
        condition.lock()
        defer { condition.unlock() }
        return raised
    }

    /// Sleeps until `deadline` (`Clock.now` seconds) or until raised, whichever is first; returns
    /// whether it was raised.
    @discardableResult
    public func sleep(until deadline: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !raised {
            let left = deadline - Clock.now
            if left <= 0 { return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: left))
        }
        return true
    }

    /// Sleeps `seconds` or until raised; returns whether it was raised.
    @discardableResult
    public func sleep(seconds: Double) -> Bool { sleep(until: Clock.now + seconds) }
}
