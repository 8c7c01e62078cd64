import ArgumentParser
import Batching
import Foundation

extension BatchPolicy: ExpressibleByArgument {}
extension ShedPolicy: ExpressibleByArgument {}

extension Batchline {
    /// `batchline simulate`: the batch controller on the paper's devices, without them.
    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the batch controller against a device's measured stage costs (the paper's tables).",
            discussion: """
                A discrete-event model of the batched pipeline with the device's costs per batch (plus noise) \
                drives the same controller `batchline run --batch auto` uses, and prints its decisions and the \
                throughput and latency reached.
                """
        )

        @Option(
            name: .long,
            help:
                "xavier, 2080ti, or a JSON file {name, sizes, preprocess, inference, postprocess}: `batchline profile` writes one (device.json)."
        )
        var device = "xavier"

        @Option(name: .long, help: "Camera streams.")
        var streams = 1

        @Option(name: .long, help: "Frames per second per stream.")
        var fps: Double = 30

        @Option(name: .long, help: "fixed, realtime, slo or aimd.")
        var policy: BatchPolicy = .realtime

        @Option(name: .long, help: "Batch size to start at (the size itself for --policy fixed).")
        var batch = 1

        @Option(name: .long, help: "Batch sizes the controller may choose, comma-separated.")
        var sizes = "1,2,4,8,16"

        @Option(name: .long, help: "p99 latency target in milliseconds (slo, aimd).")
        var latencySlo: Double = 500

        @Option(name: .long, help: "What to shed when nothing keeps up: drop-oldest, skip or backlog.")
        var shed: ShedPolicy = .dropOldest

        @Option(name: .long, help: "Simulated seconds.")
        var seconds: Double = 60

        @Option(
            name: .customLong("change"),
            help: "At T seconds the number of streams becomes N (T:N; repeat for a varying load).")
        var changes: [String] = []

        @Option(
            name: .long,
            help: """
                Tracking: the detector runs on every N-th frame of each stream (the tracker answers the others), \
                or auto: the batch size manager chooses each stream's interval, lengthening before it sheds.
                """)
        var inferEvery = "1"

        @Option(name: .long, help: "With --infer-every auto: how steady the streams' tracks are, 0...1.")
        var stability = 0.9

        @Option(name: .long, help: "Random seed for the cost noise.")
        var seed: UInt64 = 1

        @Flag(name: .long, help: "Print the result as JSON.")
        var json = false

        @Flag(
            name: .long,
            help: """
                Instead of one run: for each fixed size and for --policy, the highest load (frames/s over \
                --streams) that a run of --seconds keeps with nothing shed.
                """)
        var capacity = false

        func run() throws {
            do {
                let profile = try DeviceProfile.named(device)
                let allowed = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !allowed.isEmpty, allowed.allSatisfy({ (1...256).contains($0) }) else {
                    throw SimulationError("--sizes \(sizes): give batch sizes in 1...256")
                }
                guard streams >= 1, streams <= 1000, fps > 0, seconds > 0, seconds <= 3600 else {
                    throw SimulationError("--streams 1...1000, --fps > 0 and --seconds 0...3600, please")
                }
                var setup = SimulationSetup(device: profile)
                setup.streams = streams
                setup.fps = fps
                setup.seconds = seconds
                setup.seed = seed
                setup.streamChanges = try changes.map { text throws(SimulationError) in
                    let parts = text.split(separator: ":")
                    guard parts.count == 2, let t = Double(parts[0]), let n = Int(parts[1]), t >= 0,
                        (0...1000).contains(n)
                    else { throw SimulationError("--change \(text): use SECONDS:STREAMS, e.g. 20:2") }
                    return (t, n)
                }
                if inferEvery == "auto" {
                    setup.autoInterval = true
                } else if let n = Int(inferEvery), (1...300).contains(n) {
                    setup.inferEvery = n
                } else {
                    throw SimulationError(
                        "--infer-every \(inferEvery): give a whole number of frames within 1...300, or auto")
                }
                guard (0...1).contains(stability) else { throw SimulationError("--stability \(stability): give 0...1") }
                setup.stability = stability
                setup.initialBatch = batch
                setup.controller.policy = policy
                setup.controller.sizes = allowed
                setup.controller.latencySLO = latencySlo / 1000
                setup.controller.shed = shed
                if capacity {
                    printCapacity(setup, sizes: allowed)
                    return
                }
                let result = Simulator(setup: setup).run()
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(result), as: UTF8.self))
                    return
                }
                print("\(profile.name): \(streams) stream(s) x \(fps) fps, policy \(policy.rawValue), \(seconds) s")
                for d in result.decisions {
                    print(String(format: "  t=%6.2f s  B %2d -> %2d  %@", d.time, d.from, d.to, d.reason))
                }
                if setup.autoInterval || setup.inferEvery > 1 {
                    let iv = result.intervals.prefix(streams)
                    print(
                        "intervals at the end: \(iv.min() ?? 1)-\(iv.max() ?? 1); \(result.tracked) frames answered by the tracker"
                    )
                }
                print(
                    String(
                        format: "B=%d at the end (bottleneck: %@); %.1f frames/s processed of %.1f offered; "
                            + "latency p50 %.0f ms, p99 %.0f ms; %d shed",
                        result.finalBatch, result.bottleneck ?? "?", result.throughput,
                        Double(result.arrived) / seconds, result.latencyP50 * 1000, result.latencyP99 * 1000,
                        result.shed))
            } catch {
                throw fail(error)
            }
        }

        /// One line per fixed size and one for the policy: the load each keeps with nothing shed.
        func printCapacity(_ base: SimulationSetup, sizes: [Int]) {
            // Bounds from the device's own table: no size does more than its stages allow.
            let d = base.device
            let best =
                sizes.map { b in
                    Double(b) / max(d.seconds(.infer, batch: b), d.seconds(.preprocess, batch: 1) * Double(b))
                }.max() ?? 100
            let (low, high) = (best * 0.2, best * 1.5)
            print("\(d.name): \(base.streams) stream(s), \(base.seconds) s a run; the load kept with nothing shed")
            var rows: [(String, Double?)] = []
            for b in sizes {
                var s = base
                s.controller.policy = .fixed
                s.initialBatch = b
                rows.append(("fixed B=\(b)", Simulator.zeroShedRate(s, low: low, high: high)))
            }
            if base.controller.policy != .fixed {
                let label = "auto (\(base.controller.policy.rawValue))"
                rows.append((label, Simulator.zeroShedRate(base, low: low, high: high)))
            }
            for (label, rate) in rows {
                let value = rate.map { String(format: "%.1f frames/s", $0) } ?? String(format: "sheds at %.1f", low)
                print("  \(label.padding(toLength: 18, withPad: " ", startingAt: 0)) \(value)")
            }
        }
    }
}
