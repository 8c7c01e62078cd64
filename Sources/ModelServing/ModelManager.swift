import Core
import CoreMetrics
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

/// Serves one model and swaps versions of it into the running pipeline (the paper's model manager).
///
/// A swap loads, compiles (for every batch size in use) and warms up the new version on the thread
/// that asks for it (a control connection or the repository watcher, never the stream's threads),
/// validates it, and stages it; the inference thread switches to it at its next batch boundary, keeps
/// the old version as a fallback through a short probation, and frees it once its last batch is done.
/// The decisions are `SwapProtocol`'s; this class does the loading and keeps the engines.
public final class ModelManager: Sendable {
    /// Loads a version (reads and checks the model; compiling is the manager's).
    public typealias Loader = @Sendable (Int) throws -> any InferenceEngine

    struct State {
        var swap: SwapProtocol
        var engines: [Int: Handoff<any InferenceEngine>]
        /// The latest swaps (at most `keep`), oldest first.
        var records: [SwapRecord] = []
        var nextRecord = 1
        /// The record of the swap staged or on probation.
        var open: Int?
        var lastEnd: Double?
        /// Versions rolled back from or rejected: the watcher leaves them alone.
        var refused: Set<Int> = []
        /// The stream has ended: nothing will switch any more.
        var closed = false
        /// The engine the last batch started on: a batch on another one is a change of version.
        var lastServed = 0
        /// `batchline_model_swaps_total` by outcome: a record's outcome is counted when it gets it.
        let swaps: [SwapOutcome: Counter]
        /// Told each swap once it ended (any outcome but `staged`): the node's event feed.
        let told: (@Sendable (SwapRecord) -> Void)?

        /// Records kept; older ones are dropped (a long run may swap thousands of times).
        static let keep = 500

        mutating func add(_ record: SwapRecord) -> Int {
            var r = record
            swaps[r.outcome]?.increment()
            r.id = nextRecord
            nextRecord += 1
            records.append(r)
            if r.outcome != .staged { told?(r) }
            if records.count > Self.keep { records.removeFirst(records.count - Self.keep) }
            return r.id
        }

        func record(_ id: Int) -> SwapRecord? { records.last { $0.id == id } }

        mutating func update(_ id: Int?, _ change: (inout SwapRecord) -> Void) {
            guard let id, let i = records.lastIndex(where: { $0.id == id }) else { return }
            let before = records[i].outcome
            change(&records[i])
            if records[i].outcome != before {
                swaps[records[i].outcome]?.increment()
                if records[i].outcome != .staged { told?(records[i]) }
            }
        }
    }

    let state: Mutex<State>
    /// Signalled whenever a swap moves (staged, switched, rolled back, probation over, closed):
    /// `activate` awaits it instead of polling.
    let changes = ChangeSignal()
    let loader: Loader?
    /// Called on the inference thread at each switch point with the new version's tag.
    let onSwitch = Mutex<(@Sendable (String) -> Void)?>(nil)
    /// Batch sizes to compile for, and requests per size.
    let sizes: [Int]
    let requests: Int
    let memoryLimit: Int?
    /// The memory the first version took: what a second one is expected to need.
    let versionBytes: Int?
    /// The input every version must take (the frames in the queues were pre-processed for it).
    let input: ModelSpec.InputSpec
    let origin: Double
    let logger: Logger
    /// Why swaps are impossible, when they are.
    let unavailable: String?
    /// The model's name, for messages.
    public let name: String

    /// Serves `engine` (version `version`). `loader` loads other versions; nil when the model is not
    /// in a repository. `versionBytes` is the memory the first version took, to check that a second
    /// one fits `memoryLimit` during a swap. Swaps are counted by outcome through `metrics`.
    public init(
        engine: any InferenceEngine, version: Int, name: String, loader: Loader?, sizes: [Int], requests: Int,
        memoryLimit: Int? = nil, versionBytes: Int? = nil, unavailable: String? = nil,
        probationBatches: Int = 10, probationSeconds: Double = 1, logger: Logger = Logger(label: "batchline.models"),
        metrics: any MetricsFactory = MetricsSystem.factory, told: (@Sendable (SwapRecord) -> Void)? = nil
    ) {
        let swap = SwapProtocol(
            serving: version, probationBatches: probationBatches, probationSeconds: probationSeconds)
        let swaps = Dictionary(
            uniqueKeysWithValues: SwapOutcome.allCases.map { outcome in
                let dimensions = [("model", name), ("outcome", outcome.rawValue)]
                let counter = Counter(label: "batchline_model_swaps_total", dimensions: dimensions, factory: metrics)
                return (outcome, counter)
            })
        state = Mutex(State(swap: swap, engines: [0: Handoff(engine)], swaps: swaps, told: told))
        input = engine.input
        self.versionBytes = versionBytes
        self.loader = loader
        self.sizes = sizes
        self.requests = requests
        self.memoryLimit = memoryLimit
        self.name = name
        self.logger = logger
        self.unavailable = loader == nil ? (unavailable ?? "the model is not in a repository") : unavailable
        origin = Clock.now
    }

    /// Calls `action` with the new version's tag whenever batches start on another engine (a swap, a
    /// rollback, a reload), on the inference thread: the batch size manager measures costs again.
    public func whenSwitched(_ action: @escaping @Sendable (String) -> Void) { onSwitch.withLock { $0 = action } }

    // MARK: Control (any thread but the stream's)

    /// What is serving and what happened so far.
    public struct Status: Sendable, Codable {
        public var model: String
        public var version: Int
        public var previousVersion: Int?
        public var swapping: Bool
        public var swaps: [SwapRecord]
    }

    /// The version serving now, and the last 20 swaps.
    public var status: Status {
        state.withLock { s in
            Status(
                model: name, version: s.swap.current.version, previousVersion: s.swap.previousVersion,
                swapping: s.swap.busy, swaps: Array(s.records.suffix(20)))
        }
    }

    /// Every swap so far.
    public var records: [SwapRecord] { state.withLock { $0.records } }

    /// Versions rolled back from, or rejected: not to be picked up again by the watcher.
    public var refusedVersions: Set<Int> { state.withLock { $0.refused } }

    /// Loads, checks and warms up `version` (on the blocking executor), then waits (at most `wait`)
    /// for the stream to switch to it, resumed by the inference thread at the switch point. Throws
    /// with the reason when the version is refused or rejected; the serving version keeps serving in
    /// every such case.
    /// How long a swap waits for its switch point: a batch boundary comes within a frame or two
    /// where streams feed the model; an idle model reaches none, so its swap is staged within 2 s
    /// (it serves from the next batch) rather than held 30 s.
    public static func switchWait(streaming: Bool) -> Duration { streaming ? .seconds(30) : .seconds(2) }

    @discardableResult
    public func activate(_ version: Int, trigger: String = "request", wait: Duration = .seconds(30))
        async throws(ModelSwapError) -> SwapRecord
    {
        let now = Clock.now - origin
        let from = state.withLock { $0.swap.current.version }
        var record = SwapRecord(from: from, to: version, trigger: trigger, requestedAt: now, outcome: .refused)
        func reject(_ outcome: SwapOutcome, _ why: String) -> ModelSwapError {
            record.outcome = outcome
            record.reason = why
            record.id = state.withLock { s in
                if outcome == .rejected { s.refused.insert(version) }
                return s.add(record)
            }
            logger.error(
                "model swap \(outcome)", metadata: ["from": "\(from)", "to": "\(version)", "reason": "\(why)"])
            return ModelSwapError(
                "version \(version) \(outcome): \(why)", code: outcome == .refused ? .refused : .failed)
        }
        guard unavailable == nil, let loader else { throw reject(.refused, unavailable ?? "no loader") }
        // A version on probation finishes it first (a second or so): three resident versions would be
        // one too many.
        _ = await waitFor(seconds: 10) { s in !(s.swap.fallback != nil && s.swap.staged == nil && !s.closed) }
        do {
            record.from = try state.withLock { s throws(SwapRefusal) in
                if s.closed { throw SwapRefusal("the run is ending") }
                try s.swap.begin(version)
                return s.swap.current.version
            }
        } catch {
            throw reject(.refused, error.description)
        }
        if let why = memoryShortfall() {
            state.withLock { $0.swap.abandon(version) }
            throw reject(.refused, why)
        }
        let handoff: Handoff<any InferenceEngine>
        do {
            let started = record
            let prepared = try await BlockingExecutor.shared.run { () throws(ModelSwapError) in
                let (engine, done) = try self.prepare(version, loader: loader, record: started)
                return (Handoff(engine), done)
            }
            (handoff, record) = prepared
        } catch {
            state.withLock { $0.swap.abandon(version) }
            throw reject(.rejected, error.message)
        }
        let staged: Int? = state.withLock { s in
            guard !s.closed else {
                s.swap.abandon(version)
                return nil
            }
            let id = s.swap.staged(version).id
            s.engines[id] = handoff
            record.outcome = .staged
            s.open = s.add(record)
            return s.open
        }
        guard let index = staged else { throw reject(.abandoned, "the run ended before it was staged") }
        logger.notice(
            "model version staged",
            metadata: [
                "from": "\(from)", "to": "\(version)", "load.s": "\(record.loadSeconds ?? 0)",
                "compile.s": "\(record.compileSeconds ?? 0)", "warmup.s": "\(record.warmupSeconds ?? 0)",
            ])
        // The stream switches at its next batch; wait for it so the answer says how it went.
        changes.signal()
        let moved = await waitFor(seconds: wait.seconds) { $0.record(index)?.outcome != .staged }
        let r = state.withLock { $0.record(index) }
        switch r?.outcome {
        case .swapped?: return r!
        case .staged?:
            let why = moved == nil ? "the request was cancelled" : "the stream has not reached a batch boundary"
            throw ModelSwapError(
                "version \(version) is staged but \(why) in \(Int(wait.seconds)) s (is it idle?); "
                    + "it takes over at the next batch", code: .staged)
        case let outcome?: throw ModelSwapError("version \(version) \(outcome): \(r?.reason ?? "")")
        case nil: throw ModelSwapError("version \(version): its record is gone")
        }
    }

    /// Waits until `condition` holds of the state (true), `seconds` pass (false) or the task is
    /// cancelled (nil); woken by `changes`, never by polling.
    private func waitFor(seconds: Double, _ condition: (State) -> Bool) async -> Bool? {
        let deadline = Clock.now + seconds
        while true {
            let next = changes.next()
            if state.withLock({ condition($0) }) { return true }
            let left = deadline - Clock.now
            guard left > 0 else { return false }
            if await next.wait(timeout: .seconds(left)) == nil && Task.isCancelled { return nil }
        }
    }

    /// The stream has ended: swaps waiting for a batch boundary give up, new ones are refused.
    package func close() {
        defer { changes.signal() }
        state.withLock { s in
            s.closed = true
            // The stream has stopped: only the current engine may still be asked for (by nobody).
            for id in s.swap.close() { s.engines[id] = nil }
            s.update(s.open) { r in
                guard r.outcome == .staged else { return }
                r.outcome = .abandoned
                r.reason = "the run ended before a batch boundary"
            }
        }
    }

    /// Back to the previous version: at once while the current one is on probation (the previous one
    /// is still resident), else by loading it again.
    @discardableResult
    public func rollback(wait: Duration = .seconds(30)) async throws(ModelSwapError) -> SwapRecord {
        defer { changes.signal() }
        let now = Clock.now - origin
        let result = state.withLock { s -> Result<(target: Int?, from: Int, done: SwapRecord?), SwapRefusal> in
            let from = s.swap.current.version
            do throws(SwapRefusal) {
                let target = try s.swap.rollback()
                guard target == nil else { return .success((target, from, nil)) }
                // On probation: the previous version is resident and serves again from the next batch.
                s.refused.insert(from)
                s.update(s.open) { r in
                    r.outcome = .rolledBack
                    r.reason = "rolled back on request"
                }
                s.open = nil
                let id = s.add(
                    SwapRecord(
                        from: from, to: s.swap.current.version, trigger: "rollback", requestedAt: now,
                        switchedAt: now, pauseSeconds: 0, outcome: .swapped))
                return .success((nil, from, s.record(id)))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .failure(let refusal): throw ModelSwapError("rollback refused: \(refusal.description)", code: .refused)
        case .success((nil, let from, let record?)):
            logger.notice("model rolled back", metadata: ["from": "\(from)", "to": "\(record.to)"])
            return record
        case .success((let version, let from, _)):
            let record = try await activate(version!, trigger: "rollback", wait: wait)
            state.withLock { _ = $0.refused.insert(from) }
            return record
        }
    }

    /// Reads, compiles and warms up `version`; checks it against the serving version's input.
    func prepare(_ version: Int, loader: Loader, record: SwapRecord) throws(ModelSwapError) -> (
        any InferenceEngine, SwapRecord
    ) {
        var record = record
        do {
            let t0 = Clock.now
            let engine = try loader(version)
            record.loadSeconds = Clock.now - t0
            guard engine.input == input else {
                throw ModelSwapError(
                    "its input (\(engine.input.width)x\(engine.input.height) \(engine.input.layout) "
                        + "\(engine.input.color) \(engine.input.type)) differs from the serving version's "
                        + "(\(input.width)x\(input.height) \(input.layout) \(input.color) \(input.type)): "
                        + "a swap cannot change the pre-processing")
            }
            let t1 = Clock.now
            for size in sizes { _ = try engine.slots(batch: size, count: requests) }
            record.compileSeconds = Clock.now - t1
            let t2 = Clock.now
            try Self.warmUp(engine, sizes: sizes)
            record.warmupSeconds = Clock.now - t2
            return (engine, record)
        } catch let error as ModelSwapError {
            throw error
        } catch {
            throw ModelSwapError("\(error)")
        }
    }

    /// One inference per size on a blank frame; outputs must decode and be finite.
    static func warmUp(_ engine: any InferenceEngine, sizes: [Int]) throws {
        for size in sizes {
            let outputs = try engine.runBlank(size: size, requests: 1)[0].outputs()
            for (role, tensor) in outputs where tensor.values.contains(where: { !$0.isFinite }) {
                throw ModelSwapError("warm-up at batch \(size) gave non-finite values in output \"\(role)\"")
            }
            _ = try engine.decoder.decode(outputs, index: 0, width: 640, height: 480)
        }
    }

    /// Why a second version would not fit the memory limit now; nil when it fits or nothing is known.
    private func memoryShortfall() -> String? {
        guard let limit = memoryLimit, let need = versionBytes else { return nil }
        let rss = ResourceMonitor.residentBytes()
        guard rss + need > limit else { return nil }
        let mib = { (b: Int) in String(format: "%.0f MiB", Double(b) / 1_048_576) }
        return "a second version needs about \(mib(need)) with \(mib(rss)) in use; the limit is \(mib(limit))"
    }
}
