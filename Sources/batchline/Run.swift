import ArgumentParser
import Foundation
import Logging
import Pipeline

extension Batchline {
    /// `batchline run`: detect objects in a video and write events, stats and an annotated video.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a model over a video file or stream.",
            discussion: """
                Events are JSON lines, one per frame, in frame order. The exit status is non-zero \
                when the source is cut short (after every frame that was there is written).
                """
        )

        @Option(name: .long, help: "Video file or http://, udp://, rtsp:// URL.")
        var source: String

        @Option(name: .long, help: "Model file with its model.json beside it, or a folder holding model.json.")
        var model: String

        @Option(name: .long, help: "Frames per inference call (1...\(PipelineOptions.maxBatchSize)).")
        var batch = 1

        @Option(name: .long, help: "Write one JSON line per frame here.")
        var events: String?

        @Option(name: .long, help: "Write the run summary as JSON here.")
        var stats: String?

        @Option(name: .long, help: "Write a video with the detections drawn here (e.g. out.mp4).")
        var annotate: String?

        @Option(name: .long, help: "Stop after this many frames.")
        var maxFrames: Int?

        @Flag(name: .long, help: "Pace a file at its native frame rate, as a camera delivers it.")
        var realtime = false

        @Option(name: .long, help: "Seconds a source may stay silent before the run gives up.")
        var timeout: Double = 10

        @Option(name: .long, help: "OpenVINO device.")
        var device = "CPU"

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging()
            var options = PipelineOptions(source: source, model: model)
            options.batchSize = batch
            options.eventsPath = events
            options.statsPath = stats
            options.annotatePath = annotate
            options.maxFrames = maxFrames
            options.realtime = realtime
            options.sourceTimeout = timeout
            options.device = device
            options.progress = true
            let report: RunReport
            do {
                report = try await DetectionPipeline(options: options).run()
            } catch {
                throw fail(error)
            }
            print(summary(report.stats))
            if let cut = report.sourceError { throw fail(cut) }
        }

        private func summary(_ s: RunStats) -> String {
            var lines = [
                String(
                    format: "%@: %d frames in %.2f s (%.1f fps), model %@ on %@, %d dropped", s.source, s.frames,
                    s.seconds, s.fps, s.model, s.device, s.dropped)
            ]
            for name in ["decode", "preprocess", "infer", "postprocess", "encode"] {
                guard let st = s.stages[name] else { continue }
                lines.append(
                    String(
                        format: "  %@ mean %7.2f ms  p50 %7.2f ms  p99 %7.2f ms  (%d %@)",
                        name.padding(toLength: 11, withPad: " ", startingAt: 0), st.meanMs,
                        st.p50Ms, st.p99Ms, st.count, name == "infer" ? "batches" : "frames"))
            }
            let sizes = s.batchSizes.sorted { Int($0.key)! < Int($1.key)! }.map { "\($0.key)x\($0.value)" }
            lines.append("  batches     \(sizes.joined(separator: " "))")
            return lines.joined(separator: "\n")
        }
    }
}
