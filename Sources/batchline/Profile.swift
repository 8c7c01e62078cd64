import ArgumentParser
import Foundation
import Runtime
import Tools

extension Batchline {
    /// `batchline profile`: the paper's per-stage measurements, on this machine.
    struct Profile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure each stage per batch size against the real-time condition (the paper's Tables 1-2).",
            discussion: """
                Writes profile.json, profile.md, device.json (this machine for `batchline simulate --device`) \
                and plots (stages.svg, resources.svg) into --out.
                """
        )

        @Option(name: .long, help: "Model file with its model.json beside it, or a folder holding model.json.")
        var model: String?

        @Option(name: .long, help: "Video file to run.")
        var source: String?

        @Option(
            name: .long,
            help: "Instead of profiling: plot the batch size decisions of a `run --stats` file (decisions.svg).")
        var decisions: String?

        @Option(
            name: .long,
            help: """
                Instead of profiling: plot frames out per second and frame lag over a `run --stats` file's \
                run, with its model swaps marked (timeline.svg).
                """)
        var timeline: String?

        @Option(name: .long, help: "Batch sizes, comma-separated.")
        var batches = "1,2,4,8,16"

        @Option(name: .long, help: "Camera frame rate for the real-time condition (B frames within B/fps s).")
        var fps: Double = 30

        @Option(name: .long, help: "Frames to run at each batch size.")
        var frames = 320

        @Option(name: .long, help: "Inference requests in flight (1 times each batch alone, as the paper does).")
        var requests = 1

        @Option(name: .long, help: "Threads pre-processing frames.")
        var preprocessWorkers = 1

        @Option(name: .long, help: "Folder for profile.json, profile.md and the plots.")
        var out = "out/profile"

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging()
            if let decisions {
                try plot(
                    decisions, "decisions.svg", \.decisionsPlot,
                    missing: "no batch size decisions (was it run with --batch auto?)")
                return
            }
            if let timeline {
                try plot(timeline, "timeline.svg", \.timelinePlot, missing: "no timeline (a run of a second or more)")
                return
            }
            guard let model, let source else {
                throw fail(PipelineError("give --model and --source (or --decisions or --timeline)"))
            }
            let sizes = batches.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil && (1...PipelineOptions.maxBatchSize).contains($0!) })
            else {
                throw fail(
                    PipelineError(
                        "--batches \(batches): give sizes in 1...\(PipelineOptions.maxBatchSize), comma-separated"))
            }
            var options = ProfileOptions(model: model, source: source)
            options.batches = sizes.map { $0! }
            options.fps = fps
            options.frames = frames
            options.requests = requests
            options.preprocessWorkers = preprocessWorkers
            options.progress = true
            do {
                let report = try await Profiler(options: options).measure()
                try report.write(to: out)
                print(report.markdown)
                print(
                    "wrote \(out)/profile.json, profile.md, device.json (for simulate --device), stages.svg, resources.svg"
                )
            } catch {
                throw fail(error)
            }
        }

        /// Reads a `run --stats` file and writes one of its plots into `out`.
        func plot(_ path: String, _ name: String, _ make: (RunStats) -> String?, missing: String) throws {
            do {
                let stats: RunStats
                do {
                    stats = try JSONDecoder().decode(RunStats.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
                } catch {
                    throw PipelineError("\(path): not a stats file written by batchline run --stats")
                }
                guard let svg = make(stats) else { throw PipelineError("\(path): \(missing)") }
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try svg.write(toFile: out + "/" + name, atomically: true, encoding: .utf8)
                print("wrote \(out)/\(name)")
            } catch {
                throw fail(error)
            }
        }
    }
}
