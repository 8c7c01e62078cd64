import Batching
import Core
import CoreMetrics
import Foundation
import InferenceBackend
import InferenceEngine
import Logging
import ModelRegistry
import ModelServing
import Monitoring
import Synchronization
import VideoIO
import Vision

/// What a finished run reports.
public struct RunReport: Sendable {
    /// The summary (`--stats`).
    public var stats: RunStats
    /// Why a source ended early, when one did: every frame before it was processed and written.
    public var sourceError: VideoError?
}

/// Decode -> pre-process -> (batched) inference -> post-process for one model, with events, stats
/// and annotated video: the runtime `batchline run` and each model of `batchline serve` run on.
///
/// In `sequential` mode one thread does everything, a frame at a time. In `pipelined` and `batched`
/// modes the stages run on their own threads (`StagedRuntime`), and streams may join and leave
/// while it runs (`attach`, `StreamHandle.stop`): `run` is a service whose file streams end, and
/// with `keepOpen` it serves until `stop`.
public final class DetectionPipeline: Sendable {
    /// What to run.
    public let options: PipelineOptions
    let logger: Logger
    /// What may change while it runs, behind one lock: the batch size, the requests in flight and
    /// the latency target (the batch size manager and the batching API change them).
    let settings: Mutex<RuntimeSettings>
    /// An engine given at `init`, taken (once) by the run, so that nothing else keeps it alive.
    let injected: Mutex<Handoff<(any InferenceEngine)?>>
    let injectedLoader: ModelManager.Loader?
    /// Loads the models this pipeline serves (nil: OpenVINO's, made when the run starts).
    let backend: (any EngineLoader)?
    /// Where the run is in its life, one value behind one lock (`Phase`).
    let phase = Mutex(Phase.idle)
    /// Raised by `stop`: every source of the run stops reading (each attached stream has a child of it).
    let stopSignal = StopSignal()
    /// Numbers for streams attached later (the initial sources are 0..<n).
    let nextStream: Mutex<Int>
    /// Makes the pipeline's series (its model's, its streams').
    let metricsFactory: any MetricsFactory
    /// The model's batching series, once it is known.
    let batchingMetrics = Mutex<BatchingMetrics?>(nil)
    /// Where stream changes, batch size decisions and swaps are told as they happen (nil: nowhere).
    let nodeEvents: EventHub<NodeEvent>?
    /// Where its streams' analytics events are handed over (the node's sinks), if anywhere.
    let recorder: (any AnalyticsRecorder)?
    /// Where its streams' events' snapshots and clips are kept, if anywhere.
    let media: EventMedia

    /// Creates a pipeline; nothing is opened until `run`. With `engine`, batches run on it instead of
    /// the model named by the options (a scripted engine isolates scheduling from the model), as
    /// version 1; `loader` then loads the versions a swap asks for. `backend` loads the models the
    /// options name (default: OpenVINO); another backend is another `EngineLoader`. Its metrics (the
    /// model's, by `model`; its streams', by `stream`) are made through `metrics`; what happens to
    /// its streams, batch sizes and versions is told to `events`; its streams' analytics events are
    /// handed to `recorder`.
    public init(
        options: PipelineOptions, engine: (any InferenceEngine)? = nil, loader: ModelManager.Loader? = nil,
        backend: (any EngineLoader)? = nil,
        logger: Logger = Logger(label: "batchline.pipeline"), metrics: any MetricsFactory = MetricsSystem.factory,
        events: EventHub<NodeEvent>? = nil, recorder: (any AnalyticsRecorder)? = nil,
        media: EventMedia = EventMedia()
    ) {
        self.media = media
        self.options = options
        nodeEvents = events
        self.recorder = recorder
        metricsFactory = metrics
        counters = InferenceCounters(metrics: metrics)
        self.logger = logger
        settings = Mutex(RuntimeSettings(batchSize: options.batchSize, requests: 1, latencySLO: options.latencySLO))
        nextStream = Mutex(options.sources.count)
        injected = Mutex(Handoff(engine))
        injectedLoader = loader
        self.backend = backend
    }

    /// The model as the inference protocol describes it (a service's pipelines), once loaded.
    public var modelDescription: ModelDescription? { described.withLock { $0 } }
    let described = Mutex<ModelDescription?>(nil)
    /// What the model did (inputs, batches, requests, durations).
    public let counters: InferenceCounters
    /// The batch size manager while it runs (nil with a fixed batch size, and before and after).
    var batcher: BatchManager? { phase.withLock { $0.serving?.batcher } }

    /// The staged runtime while streams can attach to it (nil before, after, and in sequential mode).
    var runtime: StagedRuntime? { phase.withLock { $0.serving?.runtime } }

    /// The model manager of the run, once the model is ready (nil before and after).
    public var models: ModelManager? { phase.withLock { $0.serving?.models } }

    /// Set to the model manager once the model is ready, to nil when the run ended before.
    private let modelsReady = Completion<ModelManager?>()

    /// Waits until the model is ready and returns its manager (resumed by the run when it is); nil
    /// when the run ended first or the waiting task is cancelled.
    public func waitForModels() async -> ModelManager? { (await modelsReady.wait()) ?? nil }

    /// Where a run takes model commands (`--control`, or with a repository model folder the path
    /// derived from it, which `batchline models` finds by itself), and whether it was derived (its
    /// folder is then made private); nil for a service or a model outside a repository.
    public static func controlSocket(for options: PipelineOptions) -> (path: String, derived: Bool)? {
        if let path = options.controlPath { return (path, false) }
        guard !options.keepOpen, (try? ModelRepository.modelFolder(options.model)) != nil else { return nil }
        return (ModelRepository.controlSocketPath(modelFolder: options.model), true)
    }

    /// Ends the run early and cleanly: sources stop reading, frames already read go through, and the
    /// events, stats and annotated video are completed as at the end of the sources.
    public func stop() {
        stopSignal.raise()
        runtime?.close()
    }

    /// Whether the model is loaded and streams can attach.
    public var isReady: Bool { runtime != nil }

    /// Set to true when streams can attach, to false when the run ended without getting there.
    private let readiness = Completion<Bool>()

    /// Waits until streams can attach (true) or the run ended first (false); nil when the waiting
    /// task is cancelled. Resumed by the run itself, never by polling.
    public func waitUntilReady() async -> Bool? { await readiness.wait() }

    /// The batch size the next batch will use.
    public var currentBatchSize: Int { settings.withLock { $0.batchSize } }

    /// Changes the batch size while running; it takes effect at the next batch (batched mode only).
    public func setBatchSize(_ size: Int) throws(PipelineError) {
        guard (1...PipelineOptions.maxBatchSize).contains(size) else {
            throw PipelineError("batch size \(size) is out of range: use 1...\(PipelineOptions.maxBatchSize)")
        }
        guard options.mode == .batched else { throw PipelineError("batch size can change in batched mode only") }
        use(batchSize: size)
    }

    /// Runs to the end of the sources (or `stop`) on dedicated threads and returns the report.
    /// Cancelling the task stops the run as `stop` does: what was read is completed, then it returns.
    public func run() async throws -> RunReport {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let thread = Thread {
                    do {
                        continuation.resume(returning: try self.runBlocking())
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "batchline-output"
                thread.start()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Runs on the calling thread (which must not be on the cooperative pool) and returns the report.
    public func runBlocking() throws -> RunReport {
        defer {
            readiness.complete(false)
            modelsReady.complete(nil)
        }
        try options.validate()
        let setupStart = Clock.now
        let backend = try self.backend ?? OpenVINOLoader()
        // One request at a time runs fastest with all cores on it (LATENCY); several in flight
        // share the cores as separate streams (THROUGHPUT).
        let hint: PerformanceHint = options.mode == .sequential || options.requests == 1 ? .latency : .throughput
        let setup = try prepareModel(backend: backend, hint: hint)
        let models = setup.models
        let (requests, maxRequests) = (setup.requests, setup.maxRequests)
        let watcher = setup.watch.map { repo in
            RepositoryWatcher(repository: repo, name: models.name, models: models, interval: options.watchInterval)
        }
        phase.withLock { $0 = .serving(Phase.Serving(models: models)) }
        modelsReady.complete(models)
        defer {
            models.close()
            watcher?.stop()
            phase.withLock { $0 = .ended }
        }
        logger.info(
            "model ready",
            metadata: [
                "model.tag": "\(setup.tag)", "batch.size": "\(options.batchSize)", "mode": "\(options.mode)",
                "requests": "\(requests)", "seconds": "\(Clock.now - setupStart)",
            ])

        let stop = stopSignal
        let decoderOptions = DecoderOptions(timeout: options.sourceTimeout, cancelled: { stop.isRaised })
        let decoders = try options.sources.map { source throws(VideoError) in
            try FrameSource(
                decoder: VideoDecoder(input: source, options: decoderOptions), giveUpAfter: options.sourceTimeout,
                loop: options.loop, options: decoderOptions, logger: logger, stop: stop)
        }
        let info = decoders.first?.info ?? VideoInfo(width: 0, height: 0, frameRate: 0, frameCount: nil, codec: "")
        let events = try options.eventsPath.map { path throws(OutputError) in try EventWriter(path: path) }
        var encoders: [Int: EncoderWorker] = [:]
        if let path = options.annotatePath {
            do {
                for (i, decoder) in decoders.enumerated() {
                    let out = decoders.count == 1 ? path : Self.numbered(path, i)
                    let info = decoder.info!
                    encoders[i] = EncoderWorker(
                        encoder: try VideoEncoder(
                            output: out, width: info.width, height: info.height, frameRate: info.frameRate))
                }
            } catch {
                for worker in encoders.values { worker.cancel() }
                throw error
            }
        }
        let expected = decoders.map { $0.info?.frameCount }
        let total: Int? =
            expected.contains(nil)
            ? nil : expected.map { min($0!, options.maxFrames ?? .max) }.reduce(0, +)
        // Each tracked source's interval, one object shared by its decoding thread and the output.
        let intervals = options.sources.indices.map { i in
            options.tracking.map { StreamInterval(id: "\(i)", stream: i, settings: $0) }
        }
        let monitor = ResourceMonitor(interval: 0.2)
        let manager = makeManager(
            model: models.name, requests: requests, maxRequests: maxRequests,
            memoryLimit: monitor.machine.cgroupLimitBytes, cpuBusy: options.cpuBusy ?? { monitor.machineBusy })
        if let manager { models.whenSwitched { tag in manager.modelChanged(to: tag) } }
        phase.withLock { $0.update { $0.batcher = manager } }
        settings.withLock { $0.latencySLO = options.latencySLO }
        defer { phase.withLock { $0.update { $0.batcher = nil } } }
        var output = OutputStage(
            tag: setup.tag, sources: options.sources, events: events, encoders: encoders,
            progress: ProgressLine(
                enabled: options.progress && !options.sources.contains { $0.contains("://") }, total: total),
            manager: manager, intervals: intervals)
        output.wallClock = options.keepOpen
        output.flushInterval = options.eventsFlushInterval
        output.logger = logger
        output.forgetCompleted = options.keepOpen
        output.compactDrops = options.keepOpen
        output.counters = counters
        output.scoreThreshold = options.scoreThreshold

        var errors = SourceErrors()
        monitor.start()
        let start = Clock.now
        let queues: [String: RunStats.QueueStats]
        do {
            if let engine = setup.sequential.value {
                queues = try runSequential(decoders, detector: engine, output: &output, errors: errors)
            } else {
                let staged = makeRuntime(models: models, input: setup.input, requests: maxRequests, output: output)
                errors = staged.errors
                attachSources(decoders, intervals: intervals, to: staged)
                phase.withLock { $0.update { $0.runtime = staged } }
                readiness.complete(true)
                // A run ends with its sources; a service when it is stopped.
                if !options.keepOpen || stopRequested { staged.close() }
                defer { phase.withLock { $0.update { $0.runtime = nil } } }
                queues = try staged.run(output: &output)
            }
        } catch {
            models.close()
            monitor.stop()
            output.cancel()
            output.progress.finish()
            throw error
        }
        // The stream has ended: a swap still waiting for a batch boundary is abandoned, and says so in the stats.
        models.close()
        monitor.stop()
        output.progress.finish()
        try output.finish()
        try events?.close()

        let failed = errors.all
        var stats = output.stats(
            options: options, requests: requests, seconds: Clock.now - start, info: info, queues: queues,
            sourceErrors: failed.mapValues(\.message), resources: monitor.summary, machine: monitor.machine,
            deviceInfo: backend.deviceInfo(options.device))
        stats.modelSwaps = models.records
        if let statsPath = options.statsPath {
            try writeJSON(stats, to: statsPath)
        }
        return RunReport(stats: stats, sourceError: failed.sorted { $0.key < $1.key }.first?.value)
    }

    /// `out.mp4` -> `out-1.mp4` for stream 1.
    static func numbered(_ path: String, _ index: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().path
        return ext.isEmpty ? "\(base)-\(index)" : "\(base)-\(index).\(ext)"
    }

    // MARK: Pipelined and batched (3b, 3c)

    private func makeRuntime(models: ModelManager, input: ModelSpec.InputSpec, requests: Int, output: OutputStage)
        -> StagedRuntime
    {
        let manager = output.manager
        let opts = options
        return StagedRuntime(
            settings: .init(
                decodedCapacity: Self.decodedCapacity(options), laneCapacity: Self.laneCapacity(options),
                readyCapacity: Self.readyCapacity(options),
                workers: options.preprocessWorkers, requests: requests, input: input,
                recordErrors: !options.keepOpen),
            models: models, manager: manager, drops: output.drops,
            inFlight: { [self] in self.settings.withLock { $0.requests } },
            batchSize: { [self] in self.currentBatchSize },
            timeout: { manager?.batchTimeout ?? opts.batchTimeout })
    }

    /// Decoded frames waiting for pre-processing, all sources together (a service's streams come
    /// and go: room for 4 of them at least).
    static func decodedCapacity(_ options: PipelineOptions) -> Int {
        max(options.queueCapacity, 4 * (options.keepOpen ? max(4, options.expectedStreams) : options.sources.count))
    }

    /// Decoded frames one stream may have waiting: its share of `decodedCapacity` (4 at least).
    static func laneCapacity(_ options: PipelineOptions) -> Int {
        let streams = options.keepOpen ? max(1, options.expectedStreams) : max(1, options.sources.count)
        return max(4, decodedCapacity(options) / streams)
    }

    /// Pre-processed frames waiting for inference, and the reorder window.
    static func readyCapacity(_ options: PipelineOptions) -> Int {
        max(options.queueCapacity, 2 * options.preprocessWorkers)
    }
}
