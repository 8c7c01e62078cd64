import Analytics
import ArgumentParser
import Batching
import Core
import Foundation
import Logging
import ModelServing
import Runtime
import Server

extension PipelineMode: ExpressibleByArgument {}

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

        @Option(name: .long, help: "Video file or http://, udp://, rtsp:// URL; repeat for several streams.")
        var source: [String]

        @Flag(name: .long, help: "Replay the files from their start when they end (until Ctrl-C or --max-frames).")
        var loop = false

        @Option(
            name: .long,
            help: """
                sequential, pipelined or batched (the paper's Figure 3a, 3b, 3c). Default: the fastest \
                here, pipelined with several requests in flight, or batched when --batch is over 1.
                """)
        var mode: PipelineMode?

        @Option(name: .long, help: "Inference requests in flight (default: what the device suggests).")
        var requests: Int?

        @Option(name: .long, help: "Threads pre-processing frames.")
        var preprocessWorkers = 1

        @Option(
            name: .long,
            help: "A repository model folder (REPO/<name>: its latest version), a version folder, or a model file.")
        var model: String

        @Option(name: .long, help: "With a repository model folder: serve this version, not the latest.")
        var modelVersion: Int?

        @Option(
            name: .long,
            help: """
                Local socket for `batchline models activate|rollback|status` (default with a repository \
                model folder: one derived from its path, which `batchline models` finds by itself).
                """)
        var control: String?

        @Flag(
            inversion: .prefixedNo,
            help: "Swap to a new version as soon as it is complete in the repository (default: with the latest policy)."
        )
        var watch: Bool?

        @Option(name: .long, help: "Refuse a model swap that would take the process past this many MiB.")
        var memoryLimit: Int?

        @Option(
            name: .long,
            help:
                "Frames per inference call (1...\(PipelineOptions.maxBatchSize)), or auto: the batch size manager chooses."
        )
        var batch = "1"

        @Option(name: .long, help: "With --batch auto: realtime, slo, aimd (or fixed).")
        var policy: BatchPolicy = .realtime

        @Option(name: .long, help: "With --batch auto: sizes to choose from, comma-separated.")
        var batchSizes = "1,2,4,8,16"

        @Option(name: .long, help: "p99 latency target in milliseconds (slo, aimd).")
        var latencySlo: Double = 500

        @Option(
            name: .long,
            help: "When nothing keeps up: drop-oldest, skip or backlog (default: backlog for files, drop-oldest live).")
        var shed: ShedPolicy?

        @Option(
            name: .long,
            help:
                "Live-load schedule: STREAM:JOIN[-LEAVE] seconds, e.g. 3:5-12 (stream 3 joins at 5 s, leaves at 12 s).")
        var schedule: [String] = []

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

        @Option(name: .long, help: "Report detections scoring at least this (0...1; default: the model's sidecar's).")
        var scoreThreshold: Double?

        @Flag(name: .long, help: "Track objects across frames: each detection carries its track id (\"track\").")
        var track = false

        @Option(
            name: .long,
            help: """
                With --track: run the detector on every N-th frame only (1...300; the tracker answers the \
                others, "inferred": false), or auto: the batch size manager (--batch auto) chooses N per \
                stream from the load, lengthening it before it sheds frames.
                """)
        var inferEvery: String?

        @Flag(
            name: .long,
            help: "With --track: leave frames of a still scene to the tracker (detected at least once a second).")
        var motion = false

        @Option(
            name: .long,
            help: """
                A counting line, NAME=x1,y1,x2,y2 in pixels of the source frame (repeatable; implies --track): \
                a track's bottom centre crossing it is an event, "in" from the left of x1,y1 -> x2,y2 to its right.
                """)
        var line: [String] = []

        @Option(
            name: .long,
            help: "A zone, NAME=x1,y1,x2,y2,x3,y3[,...] in pixels (repeatable; implies --track): entered and left.")
        var zone: [String] = []

        @Option(
            name: .customLong("allow-protocol"),
            help: "Also allow this protocol for --source (besides files, rtsp, rtsps, http, https, udp, rtp, srt).")
        var allowProtocols: [String] = []

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging()
            guard !source.isEmpty else { throw fail(PipelineError("give at least one --source")) }
            // Files anywhere (the command line is the operator's own), the protocols a camera needs.
            let sources = SourcePolicy(protocols: SourcePolicy.defaultProtocols + allowProtocols, folders: nil)
            for s in source {
                if let refusal = sources.refusal(s) {
                    throw fail(PipelineError("--source \(SourcePolicy.redacted(s)): \(refusal)"))
                }
            }
            guard timeout > 0, timeout <= 3600 else { throw fail(PipelineError("--timeout \(timeout): use (0, 3600]")) }
            var options = PipelineOptions(sources: source, model: model)
            let auto = batch.lowercased() == "auto"
            guard auto || Int(batch) != nil else {
                throw fail(PipelineError("--batch \(batch): give a number or auto"))
            }
            let fixed = Int(batch) ?? 1
            options.mode = mode ?? (auto || fixed > 1 ? .batched : .pipelined)
            options.modelVersion = modelVersion
            options.controlPath = control
            options.watch = watch
            options.memoryLimit = memoryLimit.map { $0 << 20 }
            if auto {
                options.batchPolicy = policy
                let sizes = batchSizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                options.batchSizes = sizes
                options.batchSize = sizes.min() ?? 1
            } else {
                options.batchSize = fixed
            }
            options.latencySLO = latencySlo / 1000
            for item in schedule {
                let parts = item.split(separator: ":")
                let times = parts.count == 2 ? parts[1].split(separator: "-").map { Double($0) } : []
                guard parts.count == 2, let stream = Int(parts[0]), (1...2).contains(times.count),
                    times.allSatisfy({ $0 != nil })
                else { throw fail(PipelineError("--schedule \(item): write STREAM:JOIN or STREAM:JOIN-LEAVE")) }
                options.schedule[stream] = (times[0]!, times.count == 2 ? times[1] : nil)
            }
            options.tracking = try Self.tracking(track: track, inferEvery: inferEvery, motion: motion)
            if let spec = try Self.analytics(lines: line, zones: zone) {
                options.tracking = options.tracking ?? TrackingSettings()
                options.tracking!.analytics = spec
            }
            if options.tracking?.auto == true && (options.batchPolicy == .fixed || options.mode == .sequential) {
                throw fail(
                    PipelineError(
                        "--infer-every auto: needs the batch size manager (--batch auto, not --mode sequential)"))
            }
            if let scoreThreshold {
                guard (0...1).contains(scoreThreshold) else {
                    throw fail(PipelineError("--score-threshold \(scoreThreshold): give a score within 0...1"))
                }
                options.scoreThreshold = Float(scoreThreshold)
            }
            options.shed = shed
            options.requests = requests
            options.preprocessWorkers = preprocessWorkers
            options.eventsPath = events
            options.statsPath = stats
            options.annotatePath = annotate
            options.maxFrames = maxFrames
            options.realtime = realtime
            options.loop = loop
            options.sourceTimeout = timeout
            options.device = device
            options.progress = true
            let pipeline = DetectionPipeline(options: options)
            // One lifecycle with `serve`: a service group runs the pipeline and its control socket;
            // Ctrl-C or SIGTERM ends a live run cleanly (events, stats and video completed).
            let report: RunReport
            do {
                var control: ControlSocket?
                if let socket = DetectionPipeline.controlSocket(for: options) {
                    control = try await ControlSocket.prepare(path: socket.path, derived: socket.derived)
                }
                report = try await RunLifecycle.run(pipeline, control: control, logger: Logger(label: "batchline.run"))
            } catch {
                throw fail(error)
            }
            print(Self.summary(report.stats))
            if let cut = report.sourceError { throw fail(cut) }
        }

        /// The lines and zones `--line` and `--zone` give (nil: none), or a one-line error naming the
        /// option and what is wrong.
        static func analytics(lines: [String], zones: [String]) throws -> AnalyticsSpec? {
            guard !lines.isEmpty || !zones.isEmpty else { return nil }
            func parse(_ item: String, _ option: String, count: (Int) -> Bool, what: String) throws -> (
                String, [Point]
            ) {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                let numbers = parts.count == 2 ? parts[1].split(separator: ",").map { Double($0) } : []
                guard parts.count == 2, count(numbers.count), numbers.count % 2 == 0, numbers.allSatisfy({ $0 != nil })
                else { throw fail(PipelineError("--\(option) \(item): write NAME=\(what)")) }
                let points = stride(from: 0, to: numbers.count, by: 2).map { Point(numbers[$0]!, numbers[$0 + 1]!) }
                return (parts[0], points)
            }
            var spec = AnalyticsSpec()
            for item in lines {
                let (name, p) = try parse(item, "line", count: { $0 == 4 }, what: "x1,y1,x2,y2")
                spec.lines.append(LineSpec(name: name, from: p[0], to: p[1]))
            }
            for item in zones {
                let (name, p) = try parse(item, "zone", count: { $0 >= 6 }, what: "x1,y1,x2,y2,x3,y3[,...]")
                spec.zones.append(ZoneSpec(name: name, points: p))
            }
            do {
                try spec.validate()
            } catch {
                throw fail(PipelineError("--line/--zone: \(error)"))
            }
            return spec
        }

        /// The tracking `--track`, `--infer-every` and `--motion` ask for, or a one-line error naming
        /// the flag.
        static func tracking(track: Bool, inferEvery: String?, motion: Bool = false) throws -> TrackingSettings? {
            if motion && !track { throw fail(PipelineError("--motion: needs --track")) }
            guard let inferEvery else { return track ? TrackingSettings(motion: motion) : nil }
            guard track else { throw fail(PipelineError("--infer-every \(inferEvery): needs --track")) }
            if inferEvery == "auto" { return TrackingSettings(auto: true, motion: motion) }
            guard let n = Int(inferEvery), (1...TrackingSettings.maxInterval).contains(n) else {
                throw fail(
                    PipelineError(
                        "--infer-every \(inferEvery): give a whole number of frames within "
                            + "1...\(TrackingSettings.maxInterval), or auto"))
            }
            return TrackingSettings(inferEvery: n, motion: motion)
        }

        static func summary(_ s: RunStats) -> String {
            var lines = [
                String(
                    format: "%@: %d frames in %.2f s (%.1f fps), model %@ on %@, %d dropped",
                    SourcePolicy.redacted(s.source), s.frames,
                    s.seconds, s.fps, s.model, s.device, s.dropped),
                "  mode \(s.mode), \(s.requestsInFlight) request(s) in flight, \(s.preprocessWorkers) pre-processing worker(s)",
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
            let tracked = s.streams.compactMap(\.tracked)
            if !tracked.isEmpty {
                let total = tracked.reduce(0, +)
                var why: [String: Int] = [:]
                for stream in s.streams { for (k, v) in stream.skipped ?? [:] { why[k, default: 0] += v } }
                let reasons = why.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                let intervals = s.streams.compactMap(\.interval)
                let range =
                    intervals.isEmpty
                    ? "" : "; detector every \(intervals.min()!)-\(intervals.max()!) frames at the end"
                lines.append(
                    "  tracked     \(s.frames - total) frame(s) detected, \(total) answered by the tracker"
                        + (reasons.isEmpty ? "" : " (\(reasons))") + range)
            }
            if s.batchPolicy != "fixed" {
                lines.append(
                    "  policy      \(s.batchPolicy), \(s.batchDecisions.count) decision(s), shedding by \(s.shedPolicy)"
                )
                for d in s.batchDecisions.suffix(8) {
                    lines.append(String(format: "    t=%6.2f s  B %2d -> %2d  ", d.time, d.from, d.to) + d.reason)
                }
            }
            for w in s.modelSwaps {
                lines.append(
                    String(
                        format: "  model swap  %d -> %d (%@): %@, load %.2f s, compile %.2f s, warm-up %.2f s%@",
                        w.from, w.to,
                        w.trigger, w.outcome.rawValue, w.loadSeconds ?? 0, w.compileSeconds ?? 0, w.warmupSeconds ?? 0,
                        w.reason.map { ": " + $0 } ?? ""))
            }
            if s.streams.count > 1 {
                for (i, st) in s.streams.enumerated() {
                    lines.append(
                        String(
                            format: "  stream %d    %d frames, %.1f fps, lag p50 %.0f ms p99 %.0f ms  %@", i, st.frames,
                            st.fps, st.lag.p50Ms, st.lag.p99Ms, SourcePolicy.redacted(st.source)))
                }
            }
            return lines.joined(separator: "\n")
        }
    }
}
