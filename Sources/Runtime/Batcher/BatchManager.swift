import Batching
import Core
import CoreMetrics
import Foundation
import Logging
import Monitoring
import Synchronization
import VideoIO

/// Connects the `BatchController` to a running pipeline: observations from the output stage after
/// each batch, a decision every `interval` seconds, applied to the next batch, logged and kept.
final class BatchManager: Sendable {
    private struct State {
        var controller: BatchController
        var lastDecision = -Double.infinity
        var lags: [Double] = []
        /// The most recent decisions (a service decides for months).
        private(set) var decisions = Ring<BatchDecision>(capacity: BatchManager.keptDecisions)
        var lastChange = -Double.infinity
        var written = 0
        /// The model version whose costs are being learned (after a change); nil: any.
        var model: String?
        /// Batches of the current size finished since the last change.
        var batchesSinceChange = 0
        /// Memory in use at the last regular look.
        var rss: Int?
        /// Streams feeding the batcher now.
        var streams: Int
        /// Counts each decision as it is recorded (`batchline_batch_decisions_total`).
        var decided: Counter?
        /// Told each decision as it is recorded (the node's event feed).
        var told: (@Sendable (BatchDecision) -> Void)?

        /// Keeps `decision` (the oldest kept goes when full), counts it and tells it.
        mutating func record(_ decision: BatchDecision) {
            decisions.append(decision)
            decided?.increment()
            told?(decision)
        }
    }

    /// Seconds after a change during which measurements are not trusted, unless enough batches of
    /// the new size finished since (those beyond the ones in flight when it changed).
    private let settle = 0.3
    private let settleBatches: Int

    private let state: Mutex<State>
    private let interval: Double
    private let apply: @Sendable (_ batch: Int, _ requests: Int?) -> Void
    private let skip: Mutex<Int>
    private let flush: Mutex<Double>
    private let minimumTimeout: Double
    let arrivals = ArrivalMeter()
    /// The streams whose inference intervals the manager chooses.
    let intervalBoard = IntervalBoard()
    private let logger: Logger
    private let origin: Double
    private let memoryLimit: Int?
    private let queueCapacity: Int
    /// The machine's CPU in use lately (0...1), from the pipeline's resource monitor.
    private let cpuBusy: (@Sendable () -> Double?)?

    init(
        controller: BatchController, interval: Double, streams: Int, logger: Logger, memoryLimit: Int?,
        batchTimeout: Double, queueCapacity: Int, maxInFlight: Int, decided: Counter? = nil,
        told: (@Sendable (BatchDecision) -> Void)? = nil, cpuBusy: (@Sendable () -> Double?)? = nil,
        apply: @escaping @Sendable (_ batch: Int, _ requests: Int?) -> Void
    ) {
        self.cpuBusy = cpuBusy
        settleBatches = maxInFlight + 1
        self.queueCapacity = queueCapacity
        minimumTimeout = batchTimeout
        flush = Mutex(batchTimeout)
        state = Mutex(State(controller: controller, streams: streams, decided: decided, told: told))
        self.interval = interval
        self.apply = apply
        self.logger = logger
        self.memoryLimit = memoryLimit
        skip = Mutex(0)
        origin = Clock.now
    }

    /// Seconds a partial batch may wait now: the time the current size takes to fill at the arrival
    /// rate (the real-time condition B / F), never less than the configured time-out, at most 2 s.
    var batchTimeout: Double { flush.withLock { $0 } }

    /// 1 in this many frames of each stream to skip now (0: none).
    var skipEvery: Int { skip.withLock { $0 } }

    /// How many decisions are kept: the most recent, with the count of all of them.
    static let keptDecisions = 2000

    /// The most recent changes, oldest first (at most `keptDecisions`).
    var decisions: [BatchDecision] { state.withLock { $0.decisions.elements } }

    /// How many changes there were in all.
    var decisionCount: Int { state.withLock { $0.decisions.total } }

    /// Streams feeding the batcher now.
    var streams: Int { state.withLock { $0.streams } }

    /// What each stage costs per batch, by size, as measured (seconds).
    var costs: [Int: [Stage: Double]] {
        state.withLock { s in
            var out: [Int: [Stage: Double]] = [:]
            for (stage, sizes) in s.controller.cost.measured {
                for (size, sample) in sizes { out[size, default: [:]][stage] = sample.value }
            }
            return out
        }
    }

    /// What it can still take: its measured costs' capacity against the frames arriving now.
    var capacity: Capacity {
        let now = Clock.now
        return Capacity(
            costs: costs, served: arrivals.rate(now: now) ?? 0, intervals: intervalBoard.streams(at: now))
    }

    /// While paused (a fixed size asked for over the control plane) no decision is made.
    private let paused = Atomic<Bool>(false)

    /// Changes the policy and the latency target while running; `fixed` pauses the manager.
    func reconfigure(policy: BatchPolicy, latencySLO: Double?) {
        paused.store(policy == .fixed, ordering: .releasing)
        state.withLock { s in
            if policy != .fixed { s.controller.config.policy = policy }
            if let latencySLO { s.controller.config.latencySLO = latencySLO }
        }
        logger.notice(
            "batch size manager reconfigured",
            metadata: ["policy": "\(policy.rawValue)", "slo.s": "\(latencySLO.map { String($0) } ?? "-")"])
    }

    var policy: BatchPolicy {
        paused.load(ordering: .acquiring) ? .fixed : state.withLock { $0.controller.config.policy }
    }

    /// Stream `id` joined the batcher: the load changes, and the decisions say so.
    func streamJoined(_ id: String) { streamsChanged(id, joined: true) }

    /// Stream `id` left the batcher (removed, ended, or gone).
    func streamLeft(_ id: String) { streamsChanged(id, joined: false) }

    private func streamsChanged(_ id: String, joined: Bool) {
        let now = Clock.now
        let count = state.withLock { s in
            s.streams = max(0, s.streams + (joined ? 1 : -1))
            let b = s.controller.batch
            let why: DecisionReason =
                joined ? .streamJoined(stream: id, streams: s.streams) : .streamLeft(stream: id, streams: s.streams)
            s.record(
                BatchDecision(
                    time: now - origin, from: b, to: b, why: why,
                    arrivalRate: arrivals.rate(now: now) ?? 0, overloaded: s.controller.overloaded,
                    requests: s.controller.config.maxRequests > 1 ? s.controller.requests : nil))
            return s.streams
        }
        logger.notice(
            "batch size manager: stream \(id) \(joined ? "joined" : "left")",
            metadata: ["streams": "\(count)", "batch.size": "\(currentBatch)"])
    }

    private var currentBatch: Int { state.withLock { $0.controller.batch } }

    /// A new model version serves from now on: every cost is measured again, and the decisions say so.
    func modelChanged(to tag: String) {
        let now = Clock.now
        state.withLock { s in
            s.controller.modelChanged()
            s.lastChange = now
            s.batchesSinceChange = 0
            s.model = tag
            let b = s.controller.batch
            s.record(
                BatchDecision(
                    time: now - origin, from: b, to: b, why: .modelChanged(tag: tag),
                    arrivalRate: arrivals.rate(now: now) ?? 0, overloaded: s.controller.overloaded,
                    requests: s.controller.config.maxRequests > 1 ? s.controller.requests : nil))
        }
        logger.notice("batch size manager: model changed, costs measured again", metadata: ["model.tag": "\(tag)"])
    }

    /// After each batch: what each stage cost, and the lags of its frames; decides when it is time.
    func observe(batch: Int, model: String? = nil, stageSeconds: [Stage: Double], lags: [Double], queueDepth: Int) {
        if paused.load(ordering: .acquiring) { return }
        let now = Clock.now
        let rate = arrivals.rate(now: now)
        let (decision, changes) = state.withLock { s -> (BatchDecision?, [IntervalChange]) in
            // Batches that started before the last change, or just after it while queues settle and
            // the new size warms up, would blur the new size's costs: skip them.
            // So would batches the previous model version ran after a swap.
            let current = batch == s.controller.batch && (s.model == nil || model == nil || model == s.model)
            if current { s.batchesSinceChange += 1 }
            let settled = current && (now - s.lastChange >= settle || s.batchesSinceChange > settleBatches)
            if settled { s.controller.observe(batch: batch, stageSeconds: stageSeconds) }
            s.lags.append(contentsOf: lags)
            s.written += lags.count
            if s.lags.count > 512 { s.lags.removeFirst(s.lags.count - 512) }
            // A size being tried is judged as soon as it has run a few batches, not at the next look.
            let early = settled && s.controller.wantsEarlyLook
            guard early || now - s.lastDecision >= interval, let rate else { return (nil, []) }
            // Memory is read once per regular look, not per batch.
            let rss: Int
            if early, let last = s.rss {
                rss = last
            } else {
                rss = ResourceMonitor.residentBytes()
                s.rss = rss
                if settled { s.controller.observe(batch: batch, stageSeconds: [:], memoryBytes: rss) }
            }
            let outputRate =
                s.lastDecision.isFinite && now > s.lastDecision ? Double(s.written) / (now - s.lastDecision) : nil
            // An early look leaves the regular window running, so that rates stay measured over it.
            if !early {
                s.written = 0
                s.lastDecision = now
            }
            let sorted = s.lags.sorted()
            let p99 = percentile(sorted, 0.99)
            var load = LoadSnapshot(
                time: now - origin, arrivalRate: rate, outputRate: outputRate, latencyP99: p99, queueDepth: queueDepth,
                memoryHeadroom: memoryLimit.map { max(0, $0 - rss) }, memoryInUse: rss, streams: s.streams,
                queueCapacity: queueCapacity)
            load.cpuBusy = cpuBusy?()
            // Both knobs: the streams' intervals first, then the batch size.
            let streams = intervalBoard.isEmpty ? [] : intervalBoard.streams(at: now)
            let look = s.controller.decide(load, streams: streams, early: early)
            for d in look.decisions { s.record(d) }
            if !look.decisions.isEmpty { s.lags.removeAll() }
            if let d = look.batch, d.to != d.from {
                s.lastChange = now
                s.batchesSinceChange = 0
            }
            return (look.batch, look.intervals)
        }
        if !changes.isEmpty {
            intervalBoard.apply(changes)
            for change in changes {
                logger.notice(
                    "inference interval decision",
                    metadata: [
                        "stream": "\(change.stream)", "interval.from": "\(change.from)", "interval.to": "\(change.to)",
                        "reason": "\(change.why)",
                    ])
            }
        }
        guard let decision else { return }
        apply(decision.to, decision.requests)
        let fill = Double(decision.to) / max(decision.arrivalRate, 1e-3)
        flush.withLock { $0 = min(2, max(minimumTimeout, fill)) }
        skip.withLock { $0 = decision.overloaded ? (decision.skipEvery ?? 0) : 0 }
        logger.notice(
            "batch size decision",
            metadata: [
                "batch.from": "\(decision.from)", "batch.to": "\(decision.to)", "reason": "\(decision.reason)",
                "arrival.fps": "\(String(format: "%.1f", decision.arrivalRate))",
                "bottleneck": "\(decision.bottleneck ?? "?")", "overloaded": "\(decision.overloaded)",
                "requests": "\(decision.requests.map(String.init) ?? "-")",
            ])
    }
}
