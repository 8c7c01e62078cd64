import Batching
import Foundation
import InferenceBackend
import Logging
import ModelRegistry
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

/// Decode -> pre-process -> (batched) inference -> post-process, with events, stats and annotated video.
///
/// In `sequential` mode one thread does everything, a frame at a time. In `pipelined` and `batched`
/// modes each source decodes on its own thread into one shared bounded queue (a stream muxer),
/// pre-processing runs on `preprocessWorkers` threads whose results are put back in order, one thread
/// batches frames and keeps up to `requests` inferences in flight, and the calling thread
/// post-processes and writes. No stage runs on Swift's cooperative pool; every queue is bounded, and
/// a full queue makes its producer wait.
public final class DetectionPipeline: Sendable {
    /// What to run.
    public let options: PipelineOptions
    private let logger: Logger
    private let batchSize: Mutex<Int>
    /// An engine given at `init`, taken (once) by the run, so that nothing else keeps it alive.
    private let injected: Mutex<Handoff<(any BatchEngine)?>>
    private let injectedLoader: ModelManager.Loader?
    private let manager = Mutex<ModelManager?>(nil)
    private let stopping = Atomic<Bool>(false)
    /// Requests the inference stage keeps in flight now (the controller may change it).
    private let inFlight = Mutex(1)

    /// Creates a pipeline; nothing is opened until `run`. With `engine`, batches run on it instead of
    /// the model named by the options (a scripted engine isolates scheduling from the model), as
    /// version 1; `loader` then loads the versions a swap asks for.
    public init(
        options: PipelineOptions, engine: (any BatchEngine)? = nil, loader: ModelManager.Loader? = nil,
        logger: Logger = Logger(label: "batchline.pipeline")
    ) {
        self.options = options
        self.logger = logger
        batchSize = Mutex(options.batchSize)
        injected = Mutex(Handoff(engine))
        injectedLoader = loader
    }

    /// The model manager of the run, once the model is ready (nil before and after).
    public var models: ModelManager? { manager.withLock { $0 } }

    /// Ends the run early and cleanly: sources stop reading, frames already read go through, and the
    /// events, stats and annotated video are completed as at the end of the sources.
    public func stop() { stopping.store(true, ordering: .releasing) }

    /// Whether `stop` was called.
    var stopRequested: Bool { stopping.load(ordering: .acquiring) }

    /// The batch size the next batch will use.
    public var currentBatchSize: Int { batchSize.withLock { $0 } }

    /// Changes the batch size while running; it takes effect at the next batch (batched mode only).
    public func setBatchSize(_ size: Int) throws(PipelineError) {
        guard (1...PipelineOptions.maxBatchSize).contains(size) else {
            throw PipelineError("batch size \(size) is out of range: use 1...\(PipelineOptions.maxBatchSize)")
        }
        guard options.mode == .batched else { throw PipelineError("batch size can change in batched mode only") }
        batchSize.withLock { $0 = size }
    }

    /// Runs to the end of the sources on dedicated threads and returns the report.
    public func run() async throws -> RunReport {
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
    }

    /// Runs on the calling thread (which must not be on the cooperative pool) and returns the report.
    public func runBlocking() throws -> RunReport {
        try options.validate()
        let setupStart = Clock.now
        let core = try InferenceCore()
        // One request at a time runs fastest with all cores on it (LATENCY); several in flight
        // share the cores as separate streams (THROUGHPUT).
        let hint = options.mode == .sequential || options.requests == 1 ? "LATENCY" : "THROUGHPUT"
        let setup = try prepareModel(core: core, hint: hint)
        let models = setup.models
        let (requests, maxRequests) = (setup.requests, setup.maxRequests)
        let control = try setup.controlPath.map { path in
            try ControlServer(path: path, models: models, privateFolder: options.controlPath == nil)
        }
        let watcher = setup.watch.map { repo in
            RepositoryWatcher(repository: repo, name: models.name, models: models, interval: options.watchInterval)
        }
        manager.withLock { $0 = models }
        defer {
            models.close()
            watcher?.stop()
            control?.stop()
            manager.withLock { $0 = nil }
        }
        logger.info(
            "model ready",
            metadata: [
                "model.tag": "\(setup.tag)", "batch.size": "\(options.batchSize)", "mode": "\(options.mode)",
                "requests": "\(requests)", "seconds": "\(Clock.now - setupStart)",
            ])

        let decoderOptions = DecoderOptions(timeout: options.sourceTimeout)
        let decoders = try options.sources.map { source throws(VideoError) in
            try FrameSource(
                decoder: VideoDecoder(input: source, options: decoderOptions), giveUpAfter: options.sourceTimeout,
                options: decoderOptions, logger: logger, stopped: { [self] in self.stopRequested })
        }
        let info = decoders[0].info
        let events = try options.eventsPath.map { path throws(OutputError) in try EventWriter(path: path) }
        var encoders: [Int: EncoderWorker] = [:]
        if let path = options.annotatePath {
            do {
                for (i, decoder) in decoders.enumerated() {
                    let out = decoders.count == 1 ? path : Self.numbered(path, i)
                    encoders[i] = EncoderWorker(
                        encoder: try VideoEncoder(
                            output: out, width: decoder.info.width, height: decoder.info.height,
                            frameRate: decoder.info.frameRate))
                }
            } catch {
                for worker in encoders.values { worker.cancel() }
                throw error
            }
        }
        let expected = decoders.map { $0.info.frameCount }
        let total: Int? =
            expected.contains(nil)
            ? nil : expected.map { min($0!, options.maxFrames ?? .max) }.reduce(0, +)
        let monitor = ResourceMonitor(interval: 0.2)
        let manager = makeManager(
            requests: requests, maxRequests: maxRequests, memoryLimit: monitor.machine.cgroupLimitBytes)
        if let manager { models.whenSwitched { tag in manager.modelChanged(to: tag) } }
        var output = OutputStage(
            tag: setup.tag, sources: options.sources, events: events, encoders: encoders,
            progress: ProgressLine(
                enabled: options.progress && !options.sources.contains { $0.contains("://") }, total: total),
            manager: manager)

        let errors = SourceErrors()
        monitor.start()
        let start = Clock.now
        let queues: [String: RunStats.QueueStats]
        do {
            if let engine = setup.sequential.value {
                queues = try runSequential(decoders, detector: engine, output: &output, errors: errors)
            } else {
                queues = try runStaged(
                    decoders, models: models, input: setup.input, requests: maxRequests, output: &output,
                    errors: errors)
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
            deviceInfo: Self.deviceInfo(core, options.device))
        stats.modelSwaps = models.records
        if let statsPath = options.statsPath {
            try writeJSON(stats, to: statsPath)
        }
        return RunReport(stats: stats, sourceError: failed.sorted { $0.key < $1.key }.first?.value)
    }

    /// The model manager serving the first version, and what the run needs to know of the model. The
    /// manager alone holds the engine in the staged modes, so that a swap can free it.
    private struct ModelSetup {
        var models: ModelManager
        var requests: Int
        var maxRequests: Int
        var tag: String
        var input: ModelSpec.InputSpec
        /// The engine, in sequential mode only (no swaps there).
        var sequential: Handoff<(any BatchEngine)?>
        var controlPath: String?
        var watch: ModelRepository?
    }

    private func prepareModel(core: InferenceCore, hint: String) throws -> ModelSetup {
        let rssBefore = ResourceMonitor.residentBytes()
        let served = try serve(core: core, hint: hint)
        let detector = served.engine
        let requests =
            options.mode == .sequential ? 1 : try options.requests ?? detector.suggestedSlots(batch: options.batchSize)
        // With a managed batch size and no --requests, the controller may also try more requests in
        // flight (up to twice what the device suggests), kept where they raise the output rate.
        let maxRequests =
            options.requests == nil && options.batchPolicy == .realtime && options.mode == .batched
            ? min(8, 2 * requests) : requests
        inFlight.withLock { $0 = requests }
        // Compile for the batch size now, so a model that cannot take it fails before any decoding; with a
        // managed batch size, for every size it may choose, so that no change stalls a live stream.
        let sizes = options.batchPolicy == .fixed ? [options.batchSize] : options.batchSizes
        for size in sizes {
            _ = try detector.slots(batch: size, count: maxRequests)
        }
        // And run each request once, so that no first inference (which allocates) falls on the stream.
        try detector.warmUp(sizes: sizes, requests: maxRequests)
        let models = ModelManager(
            engine: detector, version: served.version, name: served.name, loader: served.loader, sizes: sizes,
            requests: maxRequests, memoryLimit: options.memoryLimit ?? ResourceMonitor.cgroupMemoryLimit(),
            versionBytes: max(0, ResourceMonitor.residentBytes() - rssBefore),
            unavailable: options.mode == .sequential ? "swaps need --mode pipelined or batched" : nil,
            probationBatches: options.probationBatches, probationSeconds: options.probationSeconds, logger: logger)
        return ModelSetup(
            models: models, requests: requests, maxRequests: maxRequests, tag: detector.tag, input: detector.input,
            sequential: Handoff(options.mode == .sequential ? detector : nil), controlPath: served.controlPath,
            watch: served.watch)
    }

    /// The model to serve, how other versions load, and where swaps are asked for.
    private struct Served {
        var engine: any BatchEngine
        var version: Int
        var name: String
        var loader: ModelManager.Loader?
        var controlPath: String?
        /// The repository to watch for new versions.
        var watch: ModelRepository?
    }

    private func serve(core: InferenceCore, hint: String) throws -> Served {
        let config = ["PERFORMANCE_HINT": hint]
        let device = options.device
        if let engine = injected.withLock({ $0.take() }) {
            return Served(
                engine: engine, version: 1, name: engine.tag, loader: injectedLoader, controlPath: options.controlPath)
        }
        guard let (repository, name) = try ModelRepository.modelFolder(options.model) else {
            if options.modelVersion != nil { throw ModelRepository.pinnedNeedsFolder(options.model) }
            let engine = try Detector(path: options.model, core: core, device: device, config: config)
            return Served(engine: engine, version: Int(engine.spec.version) ?? 1, name: engine.spec.name, loader: nil)
        }
        let policy: VersionPolicy = options.modelVersion.map { .pinned($0) } ?? .latest
        let chosen = try repository.resolve(name, policy: policy)
        let engine = try Detector(
            path: chosen.directory, core: core, device: device, config: config, name: name,
            version: String(chosen.version))
        let loader: ModelManager.Loader = { version in
            let v = try repository.version(name, version)
            return try Detector(
                path: v.directory, core: core, device: device, config: config, name: name, version: String(version))
        }
        let watch = options.watch ?? (policy == .latest)
        return Served(
            engine: engine, version: chosen.version, name: name, loader: loader,
            controlPath: options.controlPath ?? ModelRepository.controlSocketPath(modelFolder: options.model),
            watch: watch ? repository : nil)
    }

    /// The batch size manager, when the policy lets the batch size move.
    private func makeManager(requests: Int, maxRequests: Int, memoryLimit: Int?) -> BatchManager? {
        guard options.batchPolicy != .fixed else { return nil }
        var config = BatchController.Config()
        config.policy = options.batchPolicy
        config.sizes = options.batchSizes
        config.latencySLO = options.latencySLO
        config.shed = options.effectiveShed
        config.maxRequests = maxRequests > requests ? maxRequests : 0
        config.parallelism = [
            "decode": Double(options.sources.count), "preprocess": Double(options.preprocessWorkers),
            "infer": Double(requests),
        ]
        let controller = BatchController(config: config, initial: options.batchSize, requests: requests)
        batchSize.withLock { $0 = controller.batch }
        return BatchManager(
            controller: controller, interval: options.decisionInterval, streams: options.sources.count, logger: logger,
            memoryLimit: memoryLimit, batchTimeout: options.batchTimeout,
            queueCapacity: Self.decodedCapacity(options) + Self.readyCapacity(options),
            maxInFlight: max(requests, maxRequests),
            apply: { [self] size, requests in
                self.batchSize.withLock { $0 = size }
                if let requests { self.inFlight.withLock { $0 = requests } }
            })
    }

    /// The device's name and a few properties, as OpenVINO reports them.
    static func deviceInfo(_ core: InferenceCore, _ device: String) -> [String: String] {
        var info: [String: String] = ["device": device]
        for key in ["FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES", "DEVICE_TYPE"] {
            if let value = try? core.property(key, device: device), !value.isEmpty { info[key] = value }
        }
        info["OPENVINO_VERSION"] = InferenceCore.version
        return info
    }

    /// `out.mp4` -> `out-1.mp4` for stream 1.
    static func numbered(_ path: String, _ index: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().path
        return ext.isEmpty ? "\(base)-\(index)" : "\(base)-\(index).\(ext)"
    }

    // MARK: Sequential (3a)

    private func runSequential(
        _ decoders: [FrameSource], detector: any BatchEngine, output: inout OutputStage, errors: SourceErrors
    ) throws -> [String: RunStats.QueueStats] {
        var pacers = options.sources.map { Pacer(realtime: options.realtime, source: $0) }
        var counts = Array(repeating: 0, count: decoders.count)
        var live = Array(decoders.indices)
        var preprocessor = Preprocessor(input: detector.input)
        let slot = try detector.slots(batch: 1, count: 1)[0]
        while !live.isEmpty && !stopRequested {
            for stream in live {
                if let max = options.maxFrames, counts[stream] >= max {
                    live.removeAll { $0 == stream }
                    continue
                }
                let t0 = Clock.now
                let frame: VideoFrame?
                do {
                    frame = try decoders[stream].nextFrame()
                } catch {
                    errors.record(stream, error)
                    frame = nil
                }
                guard let frame else {
                    live.removeAll { $0 == stream }
                    continue
                }
                let decoded = Clock.now - t0
                pacers[stream].wait(for: frame.pts)
                let source = SourceFrame(stream: stream, frame: frame, decodeSeconds: decoded, arrival: Clock.now)
                let ready = Self.preprocess(source, with: &preprocessor)
                try slot.fill([ready.input])
                let t1 = Clock.now
                try slot.start()
                try slot.wait()
                let inferSeconds = Clock.now - t1
                let outputs = try slot.outputs()
                try output.emit(
                    InferredBatch(
                        frames: [ready], outputs: outputs, inferSeconds: inferSeconds, slotBatch: 1,
                        model: detector.tag, decoder: detector.decoder))
                counts[stream] += 1
            }
        }
        return [:]
    }

    // MARK: Pipelined and batched (3b, 3c)

    private func runStaged(
        _ decoders: [FrameSource], models: ModelManager, input: ModelSpec.InputSpec, requests: Int,
        output: inout OutputStage,
        errors: SourceErrors
    ) throws -> [String: RunStats.QueueStats] {
        let decoded = BoundedQueue<SourceFrame>(capacity: Self.decodedCapacity(options))
        let ready = ReorderBuffer<ReadyFrame>(capacity: Self.readyCapacity(options))
        let inferred = BoundedQueue<InferredBatch>(capacity: requests + 1)
        let failure = FirstFailure()
        let drops = output.drops
        let manager = output.manager
        let stopAll: @Sendable () -> Void = {
            decoded.close()
            ready.close()
            inferred.close()
        }
        let opts = options
        let runStart = Clock.now

        // Sources: one thread each, into the shared queue; it closes when the last one ends.
        let sourcesDone = DispatchGroup()
        for (stream, decoder) in decoders.enumerated() {
            let handoff = Handoff(decoder)
            sourcesDone.enter()
            Self.startThread("batchline-decode-\(stream)") {
                defer { sourcesDone.leave() }
                Self.decodeLoop(
                    handoff.value, stream: stream, into: decoded, options: opts, errors: errors, drops: drops,
                    manager: manager, runStart: runStart, stopped: { [self] in self.stopRequested })
            }
        }
        let allDone = DispatchGroup()
        allDone.enter()
        Self.startThread("batchline-sources") {
            sourcesDone.wait()
            decoded.close()
            allDone.leave()
        }

        // Pre-processing workers: numbered pops, results put back in order.
        let workersDone = DispatchGroup()
        for w in 0..<options.preprocessWorkers {
            workersDone.enter()
            Self.startThread("batchline-preprocess-\(w)") {
                defer { workersDone.leave() }
                var preprocessor = Preprocessor(input: input)
                while let (sequence, source) = decoded.popNumbered() {
                    guard ready.insert(Self.preprocess(source, with: &preprocessor), sequence: sequence) else { return }
                }
            }
        }
        allDone.enter()
        Self.startThread("batchline-preprocess-join") {
            workersDone.wait()
            ready.close()
            allDone.leave()
        }

        // Batching and inference.
        allDone.enter()
        Self.startThread("batchline-infer") {
            defer {
                inferred.close()
                allDone.leave()
            }
            do {
                var stage = InferenceStage(
                    models: models, requests: requests, inFlight: { [self] in self.inFlight.withLock { $0 } },
                    timeout: { manager?.batchTimeout ?? opts.batchTimeout },
                    batchSize: { [self] in self.currentBatchSize })
                try stage.run(from: ready, to: inferred)
            } catch {
                failure.record(error)
                stopAll()
            }
        }

        // Post-processing and output, here.
        do {
            while let batch = inferred.pop() {
                try output.emit(batch, queueDepth: decoded.depth.now + ready.depth.now)
            }
        } catch {
            failure.record(error)
            stopAll()
        }
        allDone.wait()
        if let error = failure.error { throw error }
        func q(_ capacity: Int, _ depth: (now: Int, highWater: Int)) -> RunStats.QueueStats {
            RunStats.QueueStats(capacity: capacity, highWater: depth.highWater)
        }
        return [
            "decoded": q(decoded.capacity, decoded.depth), "preprocessed": q(ready.capacity, ready.depth),
            "inferred": q(inferred.capacity, inferred.depth),
        ]
    }

    /// Decoded frames waiting for pre-processing, all sources together.
    static func decodedCapacity(_ options: PipelineOptions) -> Int {
        max(options.queueCapacity, 4 * options.sources.count)
    }

    /// Pre-processed frames waiting for inference, and the reorder window.
    static func readyCapacity(_ options: PipelineOptions) -> Int {
        max(options.queueCapacity, 2 * options.preprocessWorkers)
    }

    static func preprocess(_ source: SourceFrame, with preprocessor: inout Preprocessor) -> ReadyFrame {
        let t0 = Clock.now
        // The preprocessor writes every byte: no need to zero the buffer first.
        let size = preprocessor.bytesPerFrame
        var input = [UInt8](unsafeUninitializedCapacity: size) { _, count in count = size }
        let frame = source.frame
        frame.pixels.withUnsafeBufferPointer { px in
            input.withUnsafeMutableBytes { out in
                preprocessor.run(RGBImage(width: frame.width, height: frame.height, pixels: px), into: out)
            }
        }
        return ReadyFrame(source: source, input: input, preprocessSeconds: Clock.now - t0)
    }

    /// Reads frames until the source ends, fails, `maxFrames` is reached, or the queue is closed.
    private static func decodeLoop(
        _ decoder: FrameSource, stream: Int, into queue: BoundedQueue<SourceFrame>, options: PipelineOptions,
        errors: SourceErrors, drops: DropLog, manager: BatchManager?, runStart: Double,
        stopped: @Sendable () -> Bool
    ) {
        var count = 0
        var pacer = Pacer(realtime: options.realtime, source: options.sources[stream])
        let shed = options.effectiveShed
        let window = options.schedule[stream]
        if let join = window?.join, join > 0 {
            let wait = runStart + join - Clock.now
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
        let leaveAt = window?.leave.map { runStart + $0 } ?? .infinity
        while options.maxFrames.map({ count < $0 }) ?? true, Clock.now < leaveAt, !stopped() {
            let t0 = Clock.now
            let frame: VideoFrame?
            do {
                frame = try decoder.nextFrame()
            } catch {
                errors.record(stream, error)
                return
            }
            guard let frame else { return }
            let spent = Clock.now - t0
            pacer.wait(for: frame.pts)
            let item = SourceFrame(stream: stream, frame: frame, decodeSeconds: spent, arrival: Clock.now)
            manager?.arrivals.arrived(at: item.arrival)
            count += 1
            switch shed {
            case .backlog:
                guard queue.push(item) else { return }
            case .dropOldest:
                let (accepted, evicted) = queue.pushEvictingOldest(item)
                guard accepted else { return }
                if let old = evicted {
                    drops.record(stream: old.stream, index: old.frame.index, pts: old.frame.pts, reason: "drop-oldest")
                }
            case .skip:
                let k = manager?.skipEvery ?? 0
                if k > 1 && count % k == 0 {
                    drops.record(stream: stream, index: frame.index, pts: frame.pts, reason: "skip")
                    continue
                }
                guard queue.push(item) else { return }
            }
        }
    }

    private static func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}

/// Paces a file at its native rate (`--realtime`); live URLs pace themselves.
struct Pacer {
    let enabled: Bool
    private var start = 0.0
    private var origin: Double?

    init(realtime: Bool, source: String) { enabled = realtime && !source.contains("://") }

    mutating func wait(for pts: Double) {
        guard enabled else { return }
        if origin == nil {
            origin = pts
            start = Clock.now
        }
        let wait = start + (pts - origin!) - Clock.now
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
    }
}

/// The batching and inference thread: gathers frames in order into batches of the current size
/// (flushing a partial batch after the time-out), keeps up to `requests` inferences in flight, and
/// hands finished batches on in submission order. Each batch runs on the engine the model manager
/// names at its start, so a new version takes over at a batch boundary while batches in flight
/// finish on the old one.
struct InferenceStage {
    let models: ModelManager
    /// Requests per engine and size: the most that may be in flight.
    let requests: Int
    /// How many to keep in flight now.
    let inFlight: @Sendable () -> Int
    let timeout: @Sendable () -> Double
    let batchSize: @Sendable () -> Int
    private struct InFlight {
        var request: any EngineSlot
        var frames: [ReadyFrame]
        var started: Double
        var size: Int
        var engine: Int
        var tag: String
        var decoder: any OutputDecoder
    }
    private var ring: [InFlight] = []
    /// When the batch being gathered got its first frame.
    private var gatheringSince = 0.0
    /// Slots per engine and batch size, asked of the engine once rather than once per batch.
    private var pools: [PoolKey: [any EngineSlot]] = [:]
    private struct PoolKey: Hashable {
        var engine: Int
        var size: Int
    }

    init(
        models: ModelManager, requests: Int, inFlight: @escaping @Sendable () -> Int,
        timeout: @escaping @Sendable () -> Double,
        batchSize: @escaping @Sendable () -> Int
    ) {
        self.models = models
        self.requests = requests
        self.inFlight = inFlight
        self.timeout = timeout
        self.batchSize = batchSize
    }

    mutating func run(from ready: ReorderBuffer<ReadyFrame>, to inferred: BoundedQueue<InferredBatch>) throws {
        var pending: [ReadyFrame] = []
        var deadline = Double.infinity
        while true {
            let next: PopResult<ReadyFrame>
            if !ring.isEmpty {
                // Requests are running: take a frame if one is ready now, else finish the oldest
                // request rather than sit on its results.
                next = ready.popNext(until: Clock.now)
                if case .timedOut = next {
                    guard try complete(into: inferred) else { return }
                    continue
                }
            } else {
                next = ready.popNext(until: pending.isEmpty ? .infinity : deadline)
            }
            switch next {
            case .element(let frame):
                if pending.isEmpty {
                    gatheringSince = Clock.now
                    deadline = gatheringSince + timeout()
                }
                pending.append(frame)
                if pending.count >= batchSize() {
                    guard try submit(&pending, into: inferred) else { return }
                }
            case .timedOut:
                guard try submit(&pending, into: inferred) else { return }
            case .closed:
                if !pending.isEmpty {
                    guard try submit(&pending, into: inferred) else { return }
                }
                while !ring.isEmpty {
                    guard try complete(into: inferred) else { return }
                }
                return
            }
        }
    }

    /// The slots of `engine` for batches of `size`.
    private mutating func pool(_ engine: (id: Int, engine: any BatchEngine), size: Int) throws -> [any EngineSlot] {
        let key = PoolKey(engine: engine.id, size: size)
        if let pool = pools[key] { return pool }
        let pool = try engine.engine.slots(batch: size, count: requests)
        pools[key] = pool
        return pool
    }

    /// Starts `pending` as one batch on a free request, waiting for the oldest if none is free.
    /// A partial batch (time-out, end of input) runs on the current size's requests, padded: its
    /// unused slots cost compute, but compiling the model for every partial size would stall the
    /// stream for longer. Returns false when the output queue was closed (the run is stopping).
    private mutating func submit(_ pending: inout [ReadyFrame], into inferred: BoundedQueue<InferredBatch>) throws
        -> Bool
    {
        guard !pending.isEmpty else { return true }
        let size = batchSize()
        // The size fell while this batch gathered: it runs as batches of the new size, in order, on
        // requests compiled for it (a size compiled on the spot stalled the stream for a second).
        var start = 0
        while start < pending.count {
            let chunk = Array(pending[start..<min(start + size, pending.count)])
            start += chunk.count
            while ring.count >= min(requests, max(1, inFlight())) {
                guard try complete(into: inferred) else { return false }
            }
            let engine = models.engineForBatch(inFlight: ring.count, waitingSince: gatheringSince)
            ring.append(try self.start(chunk, size: size, on: engine))
        }
        pending.removeAll(keepingCapacity: true)
        return true
    }

    /// Starts `frames` on a free request of `engine`. Whatever fails (compiling for the size, filling,
    /// starting) goes to the model manager, which rolls a new version back and names the engine to
    /// try next, or rethrows when there is nothing to fall back on.
    private mutating func start(_ frames: [ReadyFrame], size: Int, on engine: (id: Int, engine: any BatchEngine))
        throws -> InFlight
    {
        var engine = engine
        while true {
            do {
                // Fewer than `requests` batches are in flight, so each engine has a request free.
                guard let free = try pool(engine, size: size).first(where: { r in !ring.contains { $0.request === r } })
                else { throw PipelineError("no free inference request (a bug: \(ring.count) in flight)") }
                try free.fill(frames.map(\.input))
                try free.start()
                return InFlight(
                    request: free, frames: frames, started: Clock.now, size: size, engine: engine.id,
                    tag: engine.engine.tag, decoder: engine.engine.decoder)
            } catch {
                engine = try models.failed(engine.id, error: error)
            }
        }
    }

    /// Waits for the oldest request in flight and passes its batch on. A batch that fails is run again
    /// where the model manager says (after rolling a new version back).
    private mutating func complete(into inferred: BoundedQueue<InferredBatch>) throws -> Bool {
        var oldest = ring.removeFirst()
        var outputs: [String: FloatTensor]
        while true {
            do {
                try oldest.request.wait()
                outputs = try oldest.request.outputs()
                break
            } catch {
                let engine = try models.failed(oldest.engine, error: error)
                oldest = try start(oldest.frames, size: oldest.size, on: engine)
            }
        }
        let seconds = Clock.now - oldest.started
        let freed = models.finished(oldest.engine)
        if !freed.isEmpty {
            pools = pools.filter { !freed.contains($0.key.engine) }
            ModelManager.returnFreedMemory()
        }
        return inferred.push(
            InferredBatch(
                frames: oldest.frames, outputs: outputs, inferSeconds: seconds, slotBatch: oldest.size,
                model: oldest.tag, decoder: oldest.decoder))
    }
}

/// Errors that ended sources early, by stream.
final class SourceErrors: Sendable {
    private let errors = Mutex<[Int: VideoError]>([:])

    func record(_ stream: Int, _ error: VideoError) { errors.withLock { $0[stream] = error } }

    var all: [Int: VideoError] { errors.withLock { $0 } }
}

/// The first error any stage hit; the run stops and rethrows it.
final class FirstFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) { first.withLock { $0 = $0 ?? error } }

    var error: (any Error)? { first.withLock { $0 } }
}

/// Moves a non-Sendable object to the one thread that uses it from then on.
///
/// `@unchecked Sendable`: the sender gives the value up at the hand-off and never touches it again.
struct Handoff<Value>: @unchecked Sendable {
    private(set) var value: Value
    init(_ value: Value) { self.value = value }
}

extension Handoff {
    /// Takes an optional value out, leaving nil: whoever takes it is its only owner.
    mutating func take<Wrapped>() -> Wrapped? where Value == Wrapped? {
        defer { value = nil }
        return value
    }
}

/// Writes `value` as pretty JSON with sorted keys.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
        try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    } catch {
        throw OutputError(path: path, message: "cannot write: \(error.localizedDescription)")
    }
}
