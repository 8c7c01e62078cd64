import Foundation

/// The load and settings of a simulation.
public struct SimulationSetup: Sendable {
    /// The device.
    public var device: DeviceProfile
    /// Streams, each at `fps`.
    public var streams: Int = 1
    /// Frames per second per stream.
    public var fps: Double = 30
    /// Simulated seconds.
    public var seconds: Double = 60
    /// The controller's settings (policy, sizes, SLO...).
    public var controller = BatchController.Config()
    /// Starting (or fixed) batch size.
    public var initialBatch = 1
    /// Seconds a partial batch waits before it runs.
    public var batchTimeout = 0.1
    /// Frames that may wait for pre-processing before shedding.
    public var queueCapacity = 64
    /// Relative noise on every cost (standard deviation).
    public var noise = 0.05
    /// Random seed.
    public var seed: UInt64 = 1
    /// Seconds between decisions.
    public var decisionInterval = 0.5
    /// Load changes: at time t, the number of streams becomes n.
    public var streamChanges: [(time: Double, streams: Int)] = []
    /// Tracking: the detector runs on every `inferEvery`-th frame of each stream (1: every frame);
    /// the tracker answers the others, at no cost here.
    public var inferEvery = 1
    /// The batch size manager chooses each stream's interval (`infer_every: auto`): they start at
    /// their longest, as in the pipeline.
    public var autoInterval = false
    /// How steady the streams' tracks are, 0...1 (with `autoInterval`).
    public var stability = 0.9

    /// Creates a setup for `device`.
    public init(device: DeviceProfile) { self.device = device }
}

/// What a simulation reached.
public struct SimulationResult: Sendable, Codable {
    /// Frames offered.
    public var arrived: Int
    /// Frames processed.
    public var processed: Int
    /// Frames shed.
    public var shed: Int
    /// Frames per second processed over the run.
    public var throughput: Double
    /// Median frame latency, seconds.
    public var latencyP50: Double
    /// 99th percentile frame latency, seconds.
    public var latencyP99: Double
    /// Batch size at the end.
    public var finalBatch: Int
    /// The slowest stage at the end, as the controller sees it.
    public var bottleneck: String?
    /// Every change the controller made.
    public var decisions: [BatchDecision]
    /// Frames the tracker answered (the detector skipped them by their stream's interval).
    public var tracked = 0
    /// Each stream's interval at the end.
    public var intervals: [Int] = []

    enum CodingKeys: String, CodingKey {
        case arrived, processed, shed, throughput, decisions, bottleneck, tracked, intervals
        case latencyP50 = "latency_p50_s"
        case latencyP99 = "latency_p99_s"
        case finalBatch = "final_batch"
    }
}

/// A discrete-event model of the batched pipeline (one pre-processing worker, a batcher with a
/// time-out, one inference at a time, post-processing), with the device's costs, driving the real
/// `BatchController`: its decisions on the paper's devices, reproduced without them.
public struct Simulator: Sendable {
    /// The setup.
    public let setup: SimulationSetup

    /// Creates a simulator.
    public init(setup: SimulationSetup) { self.setup = setup }

    /// Runs the simulation.
    public func run() -> SimulationResult {
        var rng = SplitMix(seed: setup.seed)
        func jitter(_ v: Double) -> Double { max(v * (1 + setup.noise * rng.gaussian()), v * 0.2) }
        var controller = BatchController(config: setup.controller, initial: setup.initialBatch)
        if setup.controller.policy == .fixed {
            controller = BatchController(
                config: {
                    var c = setup.controller; c.sizes = [setup.initialBatch]; return c
                }(),
                initial: setup.initialBatch)
        }
        let d = setup.device
        let gen = Arrivals(setup: setup)
        var arrivals = gen
        var shed = 0

        // Batching, inference, post-processing; the controller decides between batches.
        var inferFree = 0.0
        var postFree = 0.0
        var i = 0
        var latencies: [(done: Double, latency: Double)] = []
        var nextDecision = setup.decisionInterval
        var decisions: [BatchDecision] = []
        var lastDone = 0.0
        var arrived = 0
        while true {
            // Frames arrive (each stream at its interval) and are pre-processed up to a little past
            // the time inference is free: an interval decided now takes effect from there.
            arrivals.generate(until: inferFree + setup.batchTimeout + 0.25, jitter: jitter)
            guard i < arrivals.ready.count else {
                if arrivals.done { break }
                arrivals.generate(until: arrivals.time + 1 / setup.fps, jitter: jitter)
                continue
            }
            // ...and until the batch in front can fill or time out.
            arrivals.generate(until: arrivals.ready[i].ready + setup.batchTimeout + 0.05, jitter: jitter)
            let ready = arrivals.ready
            // Frames pre-processed and waiting for inference beyond the queue's bound are shed,
            // oldest first (unless the policy is backlog).
            if setup.controller.shed != .backlog {
                var waiting = 0
                while i + waiting < ready.count && ready[i + waiting].ready <= inferFree { waiting += 1 }
                if waiting > setup.queueCapacity {
                    shed += waiting - setup.queueCapacity
                    i += waiting - setup.queueCapacity
                }
            }
            let b = controller.batch
            let first = ready[i].ready
            let lastIndex = min(i + b - 1, ready.count - 1)
            let full = ready[lastIndex].ready
            let dispatch = max(inferFree, min(lastIndex - i + 1 == b ? full : .infinity, first + setup.batchTimeout))
            var n = 0
            while i + n < ready.count && n < b && ready[i + n].ready <= dispatch { n += 1 }
            n = max(n, 1)
            let preSum = (0..<n).reduce(0.0) { acc, _ in acc + jitter(d.seconds(.preprocess, batch: 1)) }
            let inferSeconds = jitter(d.seconds(.infer, batch: b))  // partial batches run padded
            let postSeconds = jitter(d.seconds(.postprocess, batch: n))
            let inferEnd = max(dispatch, ready[i + n - 1].ready) + inferSeconds
            inferFree = inferEnd
            postFree = max(postFree, inferEnd) + postSeconds
            for k in 0..<n { latencies.append((postFree, postFree - ready[i + k].arrival)) }
            lastDone = postFree
            controller.observe(
                batch: b,
                stageSeconds: [
                    .preprocess: preSum * Double(b) / Double(n), .infer: inferSeconds,
                    .postprocess: postSeconds * Double(b) / Double(n),
                ])
            i += n
            // Frames arrived and not yet in a batch: what the pipeline's queues hold now.
            while arrived < ready.count && ready[arrived].arrival <= dispatch { arrived += 1 }
            let early = controller.wantsEarlyLook
            if dispatch >= nextDecision || early {
                if !early { nextDecision = dispatch + setup.decisionInterval }
                let window = latencies.suffix(200).filter { $0.done >= dispatch - 2 }.map(\.latency).sorted()
                let span = min(2, dispatch)
                let rate =
                    span > 0 ? Double(Self.count(arrivals.times, after: dispatch - span, upTo: dispatch)) / span : 0
                let done = latencies.reversed().prefix { $0.done > dispatch - setup.decisionInterval }.count
                let load = LoadSnapshot(
                    time: dispatch, arrivalRate: rate, outputRate: Double(done) / setup.decisionInterval,
                    latencyP99: percentile(window, 0.99), queueDepth: max(0, arrived - i), streams: arrivals.streams,
                    queueCapacity: setup.controller.shed == .backlog ? nil : setup.queueCapacity)
                let look = controller.decide(load, streams: arrivals.intervalStreams, early: early)
                decisions += look.decisions
                for change in look.intervals { arrivals.set(stream: change.stream, to: change.to) }
            }
        }
        let sorted = latencies.map(\.latency).sorted()
        func pct(_ p: Double) -> Double {
            percentile(sorted, p) ?? 0
        }
        shed += arrivals.shed
        return SimulationResult(
            arrived: arrivals.times.count, processed: latencies.count, shed: shed,
            throughput: lastDone > 0 ? Double(latencies.count) / lastDone : 0, latencyP50: pct(0.5),
            latencyP99: pct(0.99), finalBatch: controller.batch,
            bottleneck: controller.cost.bottleneckLabel(
                batch: controller.batch, parallelism: setup.controller.parallelism), decisions: decisions,
            tracked: arrivals.tracked, intervals: arrivals.intervals)
    }
}

extension Simulator {
    /// The highest load (frames per second, all of `setup.streams` together) at which a run of
    /// `setup` sheds nothing, found by bisection in `low...high` to `resolution` (a fraction);
    /// nil when even `low` sheds.
    public static func zeroShedRate(_ setup: SimulationSetup, low: Double, high: Double, resolution: Double = 0.005)
        -> Double?
    {
        func sheds(_ rate: Double) -> Bool {
            var s = setup
            s.fps = rate / Double(max(setup.streams, 1))
            return Simulator(setup: s).run().shed > 0
        }
        guard low > 0, high > low, !sheds(low) else { return nil }
        if !sheds(high) { return high }
        var (lo, hi) = (low, high)
        while hi - lo > lo * resolution {
            let mid = (lo + hi) / 2
            if sheds(mid) { hi = mid } else { lo = mid }
        }
        return lo
    }

    /// How many of the ascending `times` fall in (`lo`, `hi`].
    static func count(_ times: [Double], after lo: Double, upTo hi: Double) -> Int {
        func firstIndex(above x: Double) -> Int {
            var a = 0
            var b = times.count
            while a < b {
                let m = (a + b) / 2
                if times[m] <= x { a = m + 1 } else { b = m }
            }
            return a
        }
        return max(0, firstIndex(above: hi) - firstIndex(above: lo))
    }
}

/// A small, seeded random generator (SplitMix64) with a Gaussian.
struct SplitMix: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func gaussian() -> Double {
        let u1 = max(uniform(), 1e-12)
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
