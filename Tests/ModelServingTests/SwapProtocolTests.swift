import ModelServing
import Testing

@Suite("Swap protocol (no I/O)")
struct SwapProtocolTests {
    /// Serving version 1, version 2 loaded and staged.
    func stagedSwap(probationBatches: Int = 3, probationSeconds: Double = 1) throws -> SwapProtocol {
        var p = SwapProtocol(serving: 1, probationBatches: probationBatches, probationSeconds: probationSeconds)
        try p.begin(2)
        _ = p.staged(2)
        return p
    }

    @Test("The new version takes over at the next batch; the old one finishes its batches and is freed after probation")
    func switchAtBoundary() throws {
        var p = SwapProtocol(serving: 1, probationBatches: 3, probationSeconds: 1)
        let old = p.engineForBatch(now: 0)
        #expect(old.engine == .init(id: 0, version: 1) && !old.swapped)
        p.began(old.engine.id)  // a batch of version 1 is in flight
        try p.begin(2)
        #expect(p.engineForBatch(now: 0.1).engine.version == 1, "loading does not change what serves")
        let new = p.staged(2)
        let first = p.engineForBatch(now: 0.2)
        #expect(first.engine == new && first.swapped)
        #expect(p.engineForBatch(now: 0.3).swapped == false, "one switch point")
        #expect(p.fallback?.version == 1 && p.previousVersion == 1)
        p.finished(old.engine.id, now: 0.3)  // the old batch drains
        for t in [0.4, 0.5, 0.6] {
            p.began(new.id)
            p.finished(new.id, now: t)
        }
        #expect(p.fallback != nil, "three batches, but under a second: still on probation")
        #expect(p.releasable().isEmpty)
        p.began(new.id)
        p.finished(new.id, now: 1.3)
        #expect(p.fallback == nil)
        #expect(p.releasable() == [0])
        #expect(p.releasable().isEmpty, "each engine is freed once")
    }

    @Test("A retired engine is not freed while one of its batches is in flight")
    func drainBeforeFree() throws {
        var p = try stagedSwap(probationBatches: 1, probationSeconds: 0)
        p.began(0)
        p.began(0)
        let new = p.engineForBatch(now: 1).engine
        p.began(new.id)
        p.finished(new.id, now: 2)  // probation over while version 1 still has two batches out
        #expect(p.fallback == nil && p.releasable().isEmpty)
        p.finished(0, now: 2)
        #expect(p.releasable().isEmpty)
        p.finished(0, now: 2)
        #expect(p.releasable() == [0])
    }

    @Test("One swap at a time; not to the version serving; a failed load frees the slot")
    func oneAtATime() throws {
        var p = SwapProtocol(serving: 1)
        #expect(throws: SwapRefusal("version 1 is already serving")) { try p.begin(1) }
        try p.begin(2)
        #expect(throws: SwapRefusal("a swap to version 2 is under way", code: .busy)) { try p.begin(3) }
        p.abandon(2)
        #expect(p.engineForBatch(now: 0).engine.version == 1)
        try p.begin(3)
        _ = p.staged(3)
        #expect(throws: SwapRefusal("version 3 is about to take over", code: .busy)) { try p.begin(2) }
        _ = p.engineForBatch(now: 0)
        #expect(throws: SwapRefusal("version 3 is still on probation (version 1 kept to fall back on)", code: .busy)) {
            try p.begin(2)
        }
    }

    @Test("A failure on probation rolls back to the resident fallback and retries the batch there")
    func autoRollback() throws {
        var p = try stagedSwap()
        let new = p.engineForBatch(now: 0).engine
        p.began(new.id)
        p.began(new.id)
        #expect(p.failed(new.id) == .retry(on: .init(id: 0, version: 1)))
        #expect(p.current.version == 1 && p.fallback == nil)
        // The second batch of the failed version also fails: retried on the current one.
        #expect(p.failed(new.id) == .retry(on: .init(id: 0, version: 1)))
        #expect(p.engineForBatch(now: 1).engine.version == 1)
        #expect(p.releasable() == [new.id])
        #expect(throws: SwapRefusal("no previous version to roll back to")) { try p.rollback() }
    }

    @Test(
        "After probation a failure is retried once; a second in a row reloads the previous version; with none, the run fails"
    )
    func failureAfterProbation() throws {
        var p = try stagedSwap(probationBatches: 1, probationSeconds: 0)
        let new = p.engineForBatch(now: 0).engine
        p.began(new.id)
        p.finished(new.id, now: 1)
        #expect(p.releasable() == [0])
        p.began(new.id)
        #expect(p.failed(new.id) == .retry(on: new), "first failure: the same engine again")
        p.finished(new.id, now: 2)
        p.began(new.id)
        #expect(p.failed(new.id) == .retry(on: new), "a success in between resets the count")
        #expect(p.failed(new.id) == .reload(version: 1), "second in a row")
        #expect(throws: SwapRefusal("a swap to version 1 is under way", code: .busy)) { try p.begin(3) }
        let again = p.reloaded(1)
        #expect(p.loading == nil)
        #expect(p.current == again && again.version == 1)
        #expect(p.releasable() == [new.id])
        #expect(p.failed(again.id) == .retry(on: again))
        #expect(p.failed(again.id) == .fail, "no version left to fall back on")
    }

    @Test("Rollback on request: at once during probation, else a load of the previous version")
    func rollbackOnRequest() throws {
        var p = try stagedSwap(probationBatches: 1, probationSeconds: 0)
        _ = p.engineForBatch(now: 0)
        #expect(try p.rollback() == nil)
        #expect(p.current.version == 1 && p.releasable() == [1])
        var q = try stagedSwap(probationBatches: 1, probationSeconds: 0)
        let new = q.engineForBatch(now: 0).engine
        q.began(new.id)
        q.finished(new.id, now: 1)
        #expect(try q.rollback() == 1)
        try q.begin(1)
        #expect(throws: SwapRefusal("a swap is under way", code: .busy)) { try q.rollback() }
    }

    @Test("Closing: a staged version never takes over, and every engine but the current one may be freed")
    func close() throws {
        var p = try stagedSwap()
        _ = p.engineForBatch(now: 0)  // 2 serves, 1 on fallback
        try? p.begin(3)  // refused: on probation
        var q = SwapProtocol(serving: 1)
        try q.begin(2)
        let staged = q.staged(2)
        #expect(q.close() == [staged.id])
        #expect(q.engineForBatch(now: 1).engine.version == 1 && !q.busy)
        #expect(p.close() == [0] && p.current.version == 2 && !p.busy)
    }
}
