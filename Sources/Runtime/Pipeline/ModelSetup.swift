import Batching
import Core
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

/// Loading the model a pipeline serves, and the batch size manager that steers it.
extension DetectionPipeline {
    /// The model manager serving the first version, and what the run needs to know of the model. The
    /// manager alone holds the engine in the staged modes, so that a swap can free it.
    struct ModelSetup {
        var models: ModelManager
        var requests: Int
        var maxRequests: Int
        var tag: String
        var input: ModelSpec.InputSpec
        /// The engine, in sequential mode only (no swaps there).
        var sequential: Handoff<(any InferenceEngine)?>
        var watch: ModelRepository?
    }

    func prepareModel(backend: any EngineLoader, hint: PerformanceHint) throws -> ModelSetup {
        let rssBefore = ResourceMonitor.residentBytes()
        let served = try serve(backend: backend, hint: hint)
        let detector = served.engine
        makeMetrics(model: served.name, version: served.version)
        let requests =
            options.mode == .sequential ? 1 : try options.requests ?? detector.suggestedSlots(batch: options.batchSize)
        // With a managed batch size and no --requests, the controller may also try more requests in
        // flight (up to twice what the device suggests), kept where they raise the output rate.
        let maxRequests =
            options.requests == nil && options.batchPolicy == .realtime && options.mode == .batched
            ? min(8, 2 * requests) : requests
        use(requests: requests)
        // Compile for the batch size now, so a model that cannot take it fails before any decoding; with a
        // managed batch size, for every size it may choose, so that no change stalls a live stream.
        let sizes = options.batchPolicy == .fixed ? [options.batchSize] : options.batchSizes
        for size in sizes {
            _ = try detector.slots(batch: size, count: maxRequests)
        }
        // And run each request once, so that no first inference (which allocates) falls on the stream.
        try detector.warmUp(sizes: sizes, requests: maxRequests)
        if options.keepOpen {
            // The outputs' shapes, for the inference protocol's metadata: one blank frame.
            let shapes = try detector.runBlank(size: sizes.min() ?? 1, requests: 1)[0].outputs().mapValues(\.shape)
            described.withLock {
                $0 = ModelDescription(engine: detector, name: served.name, version: served.version, shapes: shapes)
            }
        }
        let models = ModelManager(
            engine: detector, version: served.version, name: served.name, loader: served.loader, sizes: sizes,
            requests: maxRequests, memoryLimit: options.memoryLimit ?? ResourceMonitor.cgroupMemoryLimit(),
            versionBytes: max(0, ResourceMonitor.residentBytes() - rssBefore),
            unavailable: options.mode == .sequential ? "swaps need --mode pipelined or batched" : nil,
            probationBatches: options.probationBatches, probationSeconds: options.probationSeconds, logger: logger,
            metrics: metricsFactory, told: swapTeller(model: served.name))
        return ModelSetup(
            models: models, requests: requests, maxRequests: maxRequests, tag: detector.tag, input: detector.input,
            sequential: Handoff(options.mode == .sequential ? detector : nil), watch: served.watch)
    }

    /// The model to serve, how other versions load, and where swaps are asked for.
    struct Served {
        var engine: any InferenceEngine
        var version: Int
        var name: String
        var loader: ModelManager.Loader?
        /// The repository to watch for new versions.
        var watch: ModelRepository?
    }

    func serve(backend: any EngineLoader, hint: PerformanceHint) throws -> Served {
        let device = options.device
        if let engine = injected.withLock({ $0.take() }) {
            return Served(engine: engine, version: 1, name: engine.tag, loader: injectedLoader)
        }
        guard let (repository, name) = try ModelRepository.modelFolder(options.model) else {
            if options.modelVersion != nil { throw ModelRepository.pinnedNeedsFolder(options.model) }
            let engine = try backend.load(path: options.model, name: nil, version: nil, device: device, hint: hint)
            return Served(engine: engine, version: Int(engine.modelVersion) ?? 1, name: engine.modelName, loader: nil)
        }
        let policy: VersionPolicy = options.modelVersion.map { .pinned($0) } ?? .latest
        let chosen = try repository.resolve(name, policy: policy)
        let engine = try backend.load(
            path: chosen.directory, name: name, version: String(chosen.version), device: device, hint: hint)
        let loader: ModelManager.Loader = { version in
            let v = try repository.version(name, version)
            return try backend.load(path: v.directory, name: name, version: String(version), device: device, hint: hint)
        }
        let watch = options.watch ?? (policy == .latest)
        return Served(
            engine: engine, version: chosen.version, name: name, loader: loader, watch: watch ? repository : nil)
    }

    /// Tells the node's events each swap of `model` that ended.
    func swapTeller(model: String) -> (@Sendable (SwapRecord) -> Void)? {
        guard let hub = nodeEvents else { return nil }
        return { record in hub.publish(.swap(model: model, record)) }
    }

    /// Tells the node's events each decision of `model`'s batch size manager.
    func decisionTeller(model: String) -> (@Sendable (BatchDecision) -> Void)? {
        guard let hub = nodeEvents else { return nil }
        return { decision in hub.publish(.decision(model: model, decision)) }
    }

    /// The batch size manager of `model`, when the policy lets the batch size move.
    func makeManager(
        model: String, requests: Int, maxRequests: Int, memoryLimit: Int?, cpuBusy: (@Sendable () -> Double?)? = nil
    ) -> BatchManager? {
        guard options.batchPolicy != .fixed else { return nil }
        var config = BatchController.Config()
        config.policy = options.batchPolicy
        config.sizes = options.batchSizes
        config.latencySLO = options.latencySLO
        config.shed = options.effectiveShed
        config.maxRequests = maxRequests > requests ? maxRequests : 0
        config.parallelism = [
            .decode: Double(options.sources.count), .preprocess: Double(options.preprocessWorkers),
            .infer: Double(requests),
        ]
        let controller = BatchController(config: config, initial: options.batchSize, requests: requests)
        // Streams that join later (`--schedule`, or added to a service) are counted as they join.
        let initialStreams = options.sources.indices.filter { (options.schedule[$0]?.join ?? 0) <= 0 }.count
        use(batchSize: controller.batch)
        return BatchManager(
            controller: controller, interval: options.decisionInterval, streams: initialStreams, logger: logger,
            memoryLimit: memoryLimit, batchTimeout: options.batchTimeout,
            queueCapacity: Self.decodedCapacity(options) + Self.readyCapacity(options),
            maxInFlight: max(requests, maxRequests), decided: batchingMetrics.withLock { $0?.decisions },
            told: decisionTeller(model: model), cpuBusy: cpuBusy,
            apply: { [self] size, requests in
                self.use(batchSize: size)
                if let requests { self.use(requests: requests) }
            })
    }

    /// The device's name and a few properties, as OpenVINO reports them.
}
