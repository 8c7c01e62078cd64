import Synchronization

/// A value set once, that tasks wait for: `wait()` resumes when `complete(_:)` is called (or at
/// once if it was), never by polling. Waiters are resumed in the call that completes it.
///
/// Bounded: a waiter is kept only while it waits, and one that is cancelled is resumed (with nil)
/// and forgotten at once.
public final class Completion<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Not completed yet.
    public init() {}

    /// Sets the value and resumes every waiter; false (and nothing changes) when it was set already.
    @discardableResult
    public func complete(_ value: Value) -> Bool {
        let waiters: [CheckedContinuation<Value?, Never>]? = state.withLock { s in
            guard s.value == nil else { return nil }
            s.value = value
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        return true
    }

    /// The value, once set.
    public var value: Value? { state.withLock { $0.value } }

    /// Whether it was set.
    public var isComplete: Bool { value != nil }

    /// Waits until it is set; nil when the waiting task is cancelled first.
    public func wait() async -> Value? {
        let id = state.withLock { s in
            s.next &+= 1
            return s.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let now: Value?? = state.withLock { s in
                    if let value = s.value { return .some(value) }
                    if Task.isCancelled { return .some(nil) }
                    s.waiters[id] = continuation
                    return .none
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }

    /// Waits until it is set, at most `timeout`; nil when the time ran out (or the task was cancelled).
    public func wait(timeout: Duration) async -> Value? {
        if let value { return value }
        let first: Value?? = await withTaskGroup(of: Value?.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next()
            group.cancelAll()
            return first
        }
        return (first ?? nil) ?? value
    }
}

/// Wakes the tasks waiting for a state to change: take `next()` before reading the state, then
/// await it if the state is not what you wait for; every `signal()` completes the one handed out.
/// An async condition variable, so that waiting for a swap or a drain never polls.
public final class ChangeSignal: Sendable {
    /// Made by the first `next()` after a signal, so that signalling with nobody waiting (once per
    /// batch on the inference thread) allocates nothing.
    private let current = Mutex<Completion<Bool>?>(nil)

    /// Nothing changed yet.
    public init() {}

    /// Completed at the next `signal()`.
    public func next() -> Completion<Bool> {
        current.withLock { c in
            if let c { return c }
            let made = Completion<Bool>()
            c = made
            return made
        }
    }

    /// Something changed: wakes whoever waits on `next()`.
    public func signal() {
        current.withLock { c in
            defer { c = nil }
            return c
        }?.complete(true)
    }
}
