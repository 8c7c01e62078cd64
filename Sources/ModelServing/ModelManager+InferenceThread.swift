import Core
import Foundation
import InferenceEngine
import Logging
import ModelRegistry
import Monitoring
import Synchronization
import Vision

#if canImport(Glibc)
    import Glibc
#endif

extension ModelManager {
    // MARK: The inference thread

    /// The engine for the next batch, whose first frame was taken at `waitingSince`. A switch point
    /// records the pause: how long frames waited with no inference running (none when batches of the
    /// old version are still in flight).
    package func engineForBatch(inFlight: Int, waitingSince: Double) -> (id: Int, engine: any InferenceEngine) {
        let now = Clock.now
        let (id, engine, swapped, changed) = state.withLock { s in
            let (chosen, swapped) = s.swap.engineForBatch(now: now)
            // Any change of the serving engine (a swap, a rollback, a reload) is news to the batch
            // size manager.
            let changed = chosen.id != s.lastServed
            s.lastServed = chosen.id
            if swapped {
                let pause = inFlight > 0 ? 0 : max(0, now - max(s.lastEnd ?? now, waitingSince))
                s.update(s.open) { r in
                    r.switchedAt = now - origin
                    r.pauseSeconds = pause
                    r.outcome = .swapped
                }
            }
            s.swap.began(chosen.id)
            return (chosen.id, s.engines[chosen.id]!.value, swapped, changed)
        }
        if swapped {
            changes.signal()
            logger.notice("model version switched", metadata: ["model.tag": "\(engine.tag)"])
        }
        if changed { onSwitch.withLock { $0 }?(engine.tag) }
        return (id, engine)
    }

    /// A batch on `id` finished; returns engines retired and drained now: drop their requests, then
    /// call `returnFreedMemory`.
    package func finished(_ id: Int) -> [Int] {
        let now = Clock.now
        defer { changes.signal() }
        return state.withLock { s in
            s.swap.finished(id, now: now)
            s.lastEnd = now
            if !s.swap.busy { s.open = nil }
            let free = s.swap.releasable()
            for f in free { s.engines[f] = nil }
            return free
        }
    }

    /// A batch on `id` failed with `error`: the engine to run it again on (after an automatic
    /// rollback), or the error again when there is nothing to fall back on.
    package func failed(_ id: Int, error: any Error) throws -> (id: Int, engine: any InferenceEngine) {
        defer { changes.signal() }
        let action = state.withLock { s in
            let failing = s.swap.current
            let action = s.swap.failed(id)
            // Rolled back only when what serves changed (a failure of the old version's last batches
            // changes nothing).
            if s.swap.current.id != failing.id, case .retry = action {
                s.update(s.open) { r in
                    r.outcome = .rolledBack
                    r.reason = "\(error)"
                }
                s.refused.insert(failing.version)
                s.open = nil
            }
            if case .reload(let previous) = action, s.refused.contains(previous) || s.closed {
                return SwapProtocol.FailureAction.fail
            }
            return action
        }
        switch action {
        case .fail:
            throw error
        case .retry(let engine):
            logger.error(
                "a batch failed: running it again", metadata: ["on.version": "\(engine.version)", "error": "\(error)"])
            return state.withLock { s in (engine.id, s.engines[engine.id]!.value) }
        case .reload(let version):
            // Nothing else resident: load the previous version here (the stream waits; no frame is lost).
            guard let loader else { throw error }
            logger.error(
                "model version failed at run time: reloading the previous one",
                metadata: ["version": "\(version)", "error": "\(error)"])
            let from = state.withLock { $0.swap.current.version }
            var record = SwapRecord(
                from: from, to: version, trigger: "auto-rollback", requestedAt: Clock.now - origin, outcome: .swapped,
                reason: "\(error)")
            let (engine, prepared): (any InferenceEngine, SwapRecord)
            do {
                (engine, prepared) = try prepare(version, loader: loader, record: record)
            } catch {
                state.withLock { $0.swap.reloadFailed() }
                throw ModelSwapError(
                    "\(error.message) (while reloading version \(version) after: \(record.reason ?? ""))")
            }
            record = prepared
            record.switchedAt = Clock.now - origin
            let handoff = Handoff(engine)
            let id = state.withLock { s in
                s.refused.insert(from)
                let e = s.swap.reloaded(version)
                s.engines[e.id] = handoff
                _ = s.add(record)
                return e.id
            }
            return (id, handoff.value)
        }
    }

    /// Freed model memory goes back to the system now rather than staying in the allocator's arenas,
    /// so that memory after a swap returns to its level before it.
    package static func returnFreedMemory() {
        _ = trim?(0)
    }

    /// glibc's `malloc_trim` (declared in malloc.h, which the Glibc module leaves out).
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
}
