import Foundation

/// Stage costs of a device, per batch: a measured table, interpolated between its sizes.
public struct DeviceProfile: Sendable, Codable, Equatable {
    /// A name for reports.
    public var name: String
    /// Batch sizes measured.
    public var sizes: [Int]
    /// Seconds per batch, pre-processing (on the CPU).
    public var preprocess: [Double]
    /// Seconds per batch, inference.
    public var inference: [Double]
    /// Seconds per batch, post-processing.
    public var postprocess: [Double]
    /// Frames per second each size delivered where the profile was measured (`batchline profile`);
    /// informative, the simulation runs on the stage costs.
    public var delivered: [Double]?

    /// Creates a profile from a table.
    public init(
        name: String, sizes: [Int], preprocess: [Double], inference: [Double], postprocess: [Double],
        delivered: [Double]? = nil
    ) {
        self.name = name
        self.sizes = sizes
        self.preprocess = preprocess
        self.inference = inference
        self.postprocess = postprocess
        self.delivered = delivered
    }

    /// The paper's Table 1: Jetson Xavier, seconds per batch.
    public static let xavier = DeviceProfile(
        name: "Jetson Xavier (paper, Table 1)", sizes: [1, 2, 4, 8, 16],
        preprocess: [0.004, 0.007, 0.013, 0.026, 0.051], inference: [0.021, 0.031, 0.058, 0.107, 0.211],
        postprocess: [0.003, 0.004, 0.008, 0.014, 0.027])

    /// The paper's Table 2: RTX 2080 Ti, seconds per batch.
    public static let rtx2080ti = DeviceProfile(
        name: "RTX 2080 Ti (paper, Table 2)", sizes: [1, 2, 4, 8, 16],
        preprocess: [0.003, 0.006, 0.013, 0.027, 0.053], inference: [0.003, 0.005, 0.01, 0.017, 0.035],
        postprocess: [0.001, 0.002, 0.003, 0.006, 0.009])

    /// Seconds per batch of `batch` for `stage` (decoding costs nothing here): the table, linear
    /// between its sizes, and along the last segment beyond them.
    public func seconds(_ stage: Stage, batch: Int) -> Double {
        let ys: [Double]
        switch stage {
        case .decode: return 0
        case .preprocess: ys = preprocess
        case .infer: ys = inference
        case .postprocess: ys = postprocess
        }
        let x = Double(batch)
        if let i = sizes.firstIndex(of: batch) { return ys[i] }
        var lo = 0
        while lo + 2 < sizes.count && Double(sizes[lo + 1]) < x { lo += 1 }
        let x0 = Double(sizes[lo])
        let x1 = Double(sizes[lo + 1])
        return max(1e-6, ys[lo] + (ys[lo + 1] - ys[lo]) * (x - x0) / (x1 - x0))
    }

    /// Reads `xavier`, `2080ti`, or a JSON file with this type's fields.
    public static func named(_ name: String) throws -> DeviceProfile {
        switch name.lowercased() {
        case "xavier": return .xavier
        case "2080ti", "rtx2080ti": return .rtx2080ti
        default:
            guard let data = FileManager.default.contents(atPath: name) else {
                throw SimulationError("\(name): no such device profile (use xavier, 2080ti or a JSON file)")
            }
            do {
                let p = try JSONDecoder().decode(DeviceProfile.self, from: data)
                guard p.sizes.count >= 2, p.preprocess.count == p.sizes.count, p.inference.count == p.sizes.count,
                    p.postprocess.count == p.sizes.count
                else {
                    throw SimulationError("\(name): sizes and every stage need the same number (2 or more) of values")
                }
                guard p.sizes.first! >= 1, zip(p.sizes, p.sizes.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw SimulationError("\(name): sizes must be 1 or more and ascending")
                }
                guard (p.preprocess + p.inference + p.postprocess).allSatisfy({ $0.isFinite && $0 >= 0 }),
                    p.inference.allSatisfy({ $0 > 0 })
                else {
                    throw SimulationError("\(name): stage seconds must be finite and not negative (inference above 0)")
                }
                return p
            } catch let e as SimulationError {
                throw e
            } catch {
                throw SimulationError("\(name): not a device profile (\(error))")
            }
        }
    }
}

/// A simulation that cannot run.
public struct SimulationError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// A device profile or setup that cannot be simulated.
        case invalidSetup
    }

    /// The kind (one so far).
    public var code: Code { .invalidSetup }
    /// What is wrong.
    public let description: String
    public init(_ d: String) { description = d }
}

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

    enum CodingKeys: String, CodingKey {
        case arrived, processed, shed, throughput, decisions, bottleneck
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

        // Arrivals, all streams merged, with the stream count changing over time.
        var arrivals: [Double] = []
        var t = 0.0
        var changes = setup.streamChanges.sorted { $0.time < $1.time }
        var streams = setup.streams
        while t < setup.seconds {
            while let c = changes.first, c.time <= t {
                streams = c.streams
                changes.removeFirst()
            }
            let period = 1 / setup.fps
            for s in 0..<max(streams, 0) { arrivals.append(t + period * Double(s) / Double(max(streams, 1))) }
            t += period
        }
        arrivals.sort()

        // Pre-processing: one worker, FIFO; a full queue in front of it sheds the arriving frame
        // (unless the policy is backlog).
        var ready: [(arrival: Double, ready: Double)] = []
        var preFree = 0.0
        var waitingStarts: [Double] = []
        var shed = 0
        for a in arrivals {
            waitingStarts.removeAll { $0 <= a }
            if waitingStarts.count >= setup.queueCapacity && setup.controller.shed != .backlog {
                shed += 1
                continue
            }
            let start = max(a, preFree)
            let perFrame = d.seconds(.preprocess, batch: 1)
            preFree = start + jitter(perFrame)
            if start > a && setup.controller.shed != .backlog { waitingStarts.append(start) }
            ready.append((a, preFree))
        }

        // Batching, inference, post-processing; the controller decides between batches.
        var inferFree = 0.0
        var postFree = 0.0
        var i = 0
        var latencies: [(done: Double, latency: Double)] = []
        var nextDecision = setup.decisionInterval
        var decisions: [BatchDecision] = []
        var lastDone = 0.0
        var arrived = 0
        while i < ready.count {
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
                let rate = span > 0 ? Double(Self.count(arrivals, after: dispatch - span, upTo: dispatch)) / span : 0
                let done = latencies.reversed().prefix { $0.done > dispatch - setup.decisionInterval }.count
                let load = LoadSnapshot(
                    time: dispatch, arrivalRate: rate, outputRate: Double(done) / setup.decisionInterval,
                    latencyP99: percentile(window, 0.99), queueDepth: max(0, arrived - i), streams: streams,
                    queueCapacity: setup.controller.shed == .backlog ? nil : setup.queueCapacity)
                if let decision = controller.decide(load) { decisions.append(decision) }
            }
        }
        let sorted = latencies.map(\.latency).sorted()
        func pct(_ p: Double) -> Double {
            percentile(sorted, p) ?? 0
        }
        return SimulationResult(
            arrived: arrivals.count, processed: latencies.count, shed: shed,
            throughput: lastDone > 0 ? Double(latencies.count) / lastDone : 0, latencyP50: pct(0.5),
            latencyP99: pct(0.99), finalBatch: controller.batch,
            bottleneck: controller.cost.bottleneckLabel(
                batch: controller.batch, parallelism: setup.controller.parallelism), decisions: decisions)
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
