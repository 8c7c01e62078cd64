/// Why a swap was not started.
public struct SwapRefusal: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of refusal.
    public enum Code: String, Sendable {
        /// Another swap is under way.
        case busy
        /// The version asked for is the one serving, or there is none to go back to.
        case pointless
    }

    /// The kind.
    public let code: Code
    /// What stands in the way.
    public let description: String
    public init(_ description: String, code: Code = .pointless) {
        self.description = description
        self.code = code
    }
}

/// The decisions of an on-the-fly model swap, as a value with no I/O: which engine each batch runs
/// on, when a loaded version takes over, when the old one may be freed, and what a failure does.
///
/// Engines are numbered as they are loaded. The protocol:
/// 1. `begin(version)` reserves the one swap slot (one swap at a time; not to the version serving).
/// 2. The caller loads, compiles, validates and warms the version up elsewhere, then calls `staged`
///    (or `abandon` when that failed: the serving version never stopped).
/// 3. At the next batch boundary (`engineForBatch`) the staged engine becomes current. The old one is
///    kept as a fallback while the new one is on probation: `probationBatches` batches and
///    `probationSeconds` seconds without a failure. Batches already in flight finish on the old one.
/// 4. After probation the fallback is retired, and freed once no batch of it is in flight (`releasable`).
/// 5. A batch that fails on a version on probation goes back to the fallback, which serves again (an
///    automatic rollback, no frame lost). After probation a failure is first retried on the same
///    engine (it may have been transient); a second in a row asks for the previous version to be
///    loaded again.
public struct SwapProtocol: Sendable {
    /// An engine and the version it runs.
    public struct Engine: Sendable, Equatable {
        /// Its number, unique over the run.
        public var id: Int
        /// The model version.
        public var version: Int

        public init(id: Int, version: Int) {
            self.id = id
            self.version = version
        }
    }

    /// What to do about a batch that failed.
    public enum FailureAction: Sendable, Equatable {
        /// Run the batch again on this engine (counted as started): the failed version was rolled
        /// back, or the failure is retried once.
        case retry(on: Engine)
        /// Load this version again (then `reloaded`) and run the batch on it: nothing else is resident.
        case reload(version: Int)
        /// Nothing to fall back on: the run stops with the error.
        case fail
    }

    /// Where a swap is: one phase at a time, so that no two swaps (or a swap and a reload) overlap.
    ///
    /// `serving` -(begin, or a reload after failures)-> `loading` -(staged)-> `staged`
    /// -(the next batch boundary)-> `probation` -(enough batches and seconds)-> `serving`;
    /// `loading` -(abandon, reloaded, reloadFailed)-> `serving`; `probation` -(a failure, a
    /// rollback)-> `serving` on the fallback.
    public enum Phase: Sendable, Equatable {
        /// One version serves; nothing is under way.
        case serving
        /// A version is being loaded, compiled and warmed up (or loaded again after failures).
        case loading(version: Int)
        /// A version is ready and takes over at the next batch boundary.
        case staged(Engine)
        /// The current version is on probation since `since`, `passed` batches done; `fallback`
        /// stays resident to fall back on.
        case probation(fallback: Engine, since: Double, passed: Int)
    }

    /// Batches a new version must run without failure before its predecessor is freed.
    public var probationBatches: Int
    /// Seconds likewise.
    public var probationSeconds: Double
    /// The engine batches start on now.
    public private(set) var current: Engine
    /// Where the swap is.
    public private(set) var phase = Phase.serving
    /// A version being loaded, compiled and warmed up.
    public var loading: Int? {
        if case .loading(let version) = phase { return version }
        return nil
    }
    /// A version ready to take over at the next batch boundary.
    public var staged: Engine? {
        if case .staged(let engine) = phase { return engine }
        return nil
    }
    /// The previous engine, resident while the current one is on probation.
    public var fallback: Engine? {
        if case .probation(let engine, _, _) = phase { return engine }
        return nil
    }
    /// The version served before the current one (for `rollback`).
    public private(set) var previousVersion: Int?
    private var inFlight: [Int: Int] = [:]
    private var failuresInARow = 0
    private var retired: Set<Int> = []
    private var nextID: Int

    /// Starts serving `version` on engine 0.
    public init(serving version: Int, probationBatches: Int = 10, probationSeconds: Double = 1.0) {
        current = Engine(id: 0, version: version)
        nextID = 1
        self.probationBatches = probationBatches
        self.probationSeconds = probationSeconds
    }

    /// Whether a swap is under way: loading, staged, or on probation.
    public var busy: Bool { phase != .serving }

    /// Reserves the swap slot for `version`.
    public mutating func begin(_ version: Int) throws(SwapRefusal) {
        guard version != current.version || busy else { throw SwapRefusal("version \(version) is already serving") }
        if let loading { throw SwapRefusal("a swap to version \(loading) is under way", code: .busy) }
        if let staged { throw SwapRefusal("version \(staged.version) is about to take over", code: .busy) }
        if let fallback {
            throw SwapRefusal(
                "version \(current.version) is still on probation (version \(fallback.version) kept to fall back on)",
                code: .busy)
        }
        phase = .loading(version: version)
    }

    /// The version reserved by `begin` is loaded and warmed up: it takes over at the next batch.
    public mutating func staged(_ version: Int) -> Engine {
        precondition(loading == version, "staged \(version) without begin")
        let engine = Engine(id: nextID, version: version)
        nextID += 1
        phase = .staged(engine)
        return engine
    }

    /// Loading `version` failed: the swap slot is free again; the current version never stopped.
    public mutating func abandon(_ version: Int) {
        if loading == version { phase = .serving }
    }

    /// The engine for the next batch; a staged version takes over here. `swapped` is true at the
    /// switch point.
    public mutating func engineForBatch(now: Double) -> (engine: Engine, swapped: Bool) {
        guard let next = staged else { return (current, false) }
        phase = .probation(fallback: current, since: now, passed: 0)
        previousVersion = current.version
        current = next
        failuresInARow = 0
        return (current, true)
    }

    /// A batch started on `id`.
    public mutating func began(_ id: Int) { inFlight[id, default: 0] += 1 }

    /// A batch on `id` finished well; probation may end here.
    public mutating func finished(_ id: Int, now: Double) {
        inFlight[id, default: 1] -= 1
        if id == current.id { failuresInARow = 0 }
        guard case .probation(let old, let since, let passed) = phase, id == current.id else { return }
        if passed + 1 >= probationBatches && now - since >= probationSeconds {
            phase = .serving
            retired.insert(old.id)
        } else {
            phase = .probation(fallback: old, since: since, passed: passed + 1)
        }
    }

    /// A batch on `id` failed. During probation the current version is rolled back to the fallback;
    /// a batch on a retired engine (one left over from the switch) is retried on the current one.
    public mutating func failed(_ id: Int) -> FailureAction {
        inFlight[id, default: 1] -= 1
        if id != current.id {
            guard retired.contains(id) || fallback?.id == id else { return .fail }
            began(current.id)
            return .retry(on: current)
        }
        if let old = fallBack() {
            began(old.id)
            return .retry(on: old)
        }
        failuresInARow += 1
        if failuresInARow == 1 {
            began(current.id)
            return .retry(on: current)
        }
        // The reload takes the swap slot: no other swap may load beside it. With one under way
        // already, there is no room for a third version: the run stops with the error.
        guard phase == .serving, let previous = previousVersion, previous != current.version else {
            return .fail
        }
        phase = .loading(version: previous)
        return .reload(version: previous)
    }

    /// After a `.reload`: `version` was loaded again and serves from now on; the batch runs on it.
    public mutating func reloaded(_ version: Int) -> Engine {
        phase = .serving
        let engine = Engine(id: nextID, version: version)
        nextID += 1
        retired.insert(current.id)
        previousVersion = nil
        failuresInARow = 0
        current = engine
        began(engine.id)
        return engine
    }

    /// Reloading after `.reload` failed: the slot is free again (the run stops with the error).
    public mutating func reloadFailed() { phase = .serving }

    /// A rollback on request. During probation: the fallback serves again at once (the version on
    /// probation is retired), and nil is returned. Otherwise: the version to load with `begin`.
    public mutating func rollback() throws(SwapRefusal) -> Int? {
        if fallBack() != nil { return nil }
        if loading != nil || staged != nil { throw SwapRefusal("a swap is under way", code: .busy) }
        guard let previous = previousVersion else { throw SwapRefusal("no previous version to roll back to") }
        return previous
    }

    /// The version on probation is retired and its fallback serves again; nil when there is none.
    private mutating func fallBack() -> Engine? {
        guard let old = fallback else { return nil }
        retired.insert(current.id)
        current = old
        phase = .serving
        previousVersion = nil
        failuresInARow = 0
        return old
    }

    /// The stream has ended: a staged version will never take over, and nothing is loading any more.
    /// Returns the engines that are not current (staged, fallback, retired): all may be freed.
    public mutating func close() -> [Int] {
        var free = Array(retired)
        if let staged { free.append(staged.id) }
        if let fallback { free.append(fallback.id) }
        phase = .serving
        retired = []
        return free.sorted()
    }

    /// Retired engines with no batch in flight: free them now. Each is returned once.
    public mutating func releasable() -> [Int] {
        let free = retired.filter { inFlight[$0, default: 0] == 0 }.sorted()
        for id in free {
            retired.remove(id)
            inFlight[id] = nil
        }
        return free
    }
}
