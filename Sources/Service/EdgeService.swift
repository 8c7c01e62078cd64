import Batching
import Foundation
import Logging
import Monitoring
import Pipeline
import Synchronization

/// A request the service refuses, with the kind of refusal (what the HTTP server maps to a status).
public struct ServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind.
    public enum Code: String, Sendable {
        /// The request is malformed or names something that does not exist (400).
        case invalid
        /// No such stream (404).
        case notFound
        /// The id is taken, or the node is full (409).
        case conflict
        /// Not ready yet, or stopping (503).
        case unavailable
        /// Loading a model or starting a stream failed (500).
        case failed
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The streams of one edge node: a pipeline per model (streams on the same model share its
/// batcher), streams added and removed while it runs, and a clean stop.
///
/// Everything here is bounded: at most `maxStreams` streams; a stream's record goes when it is
/// removed. The pipelines run on their own threads; nothing here blocks the caller's executor for
/// long (loading a model runs on the pipeline's thread, awaited).
public final class EdgeService: Sendable {
    /// A node takes at most this many streams (each has a decoding thread).
    public static let maxStreams = 64

    private struct Entry: Sendable {
        var spec: StreamSpec
        var handle: StreamHandle
    }

    private struct Host: Sendable {
        var pipeline: DetectionPipeline
        var finished: RunOutcome
    }

    /// How a pipeline's run ended, once it did.
    final class RunOutcome: Sendable {
        private let result = Mutex<Result<RunReport, any Error>?>(nil)
        func set(_ r: Result<RunReport, any Error>) { result.withLock { $0 = r } }
        var value: Result<RunReport, any Error>? { result.withLock { $0 } }
    }

    private struct State: Sendable {
        var streams: [String: Entry] = [:]
        /// In the order they were added, for listing.
        var order: [String] = []
        var hosts: [String: Host] = [:]
        var stopping = false
        var made = 0
    }

    public let config: ServiceConfig
    private let state = Mutex(State())
    private let loading = Mutex<[String: Task<DetectionPipeline, any Error>]>([:])
    private let logger: Logger
    private let ready = Atomic<Bool>(false)

    public init(config: ServiceConfig, logger: Logger = Logger(label: "batchline.service")) {
        self.config = config
        self.logger = logger
    }

    /// Whether every configured stream's model is loaded (and the service is not stopping).
    public var isReady: Bool { ready.load(ordering: .acquiring) && !state.withLock { $0.stopping } }

    /// Loads every configured model and starts the configured streams.
    public func start() async throws {
        try FileManager.default.createDirectory(atPath: config.eventsFolder, withIntermediateDirectories: true)
        for model in Set(config.streams.map(\.modelPath)).sorted() {
            _ = try await pipeline(for: model)
        }
        for spec in config.streams {
            _ = try await add(spec)
        }
        ready.store(true, ordering: .releasing)
        logger.notice("service ready", metadata: ["streams": "\(config.streams.count)"])
    }

    /// Every stream, in the order added.
    public var streams: [StreamInfo] {
        state.withLock { s in s.order.compactMap { s.streams[$0]?.handle.info } }
    }

    /// One stream.
    public func stream(_ id: String) -> StreamInfo? { state.withLock { $0.streams[id]?.handle.info } }

    /// Adds a stream: its model is loaded if no stream uses it yet, and it joins that model's
    /// batcher. A live URL that cannot be reached yet is accepted and retried.
    public func add(_ spec: StreamSpec) async throws(ServiceError) -> StreamInfo {
        var spec = spec
        let id: String = state.withLock { s in
            if let id = spec.id { return id }
            var n = s.made
            while s.streams["stream-\(n)"] != nil { n += 1 }
            return "stream-\(n)"
        }
        spec.id = id
        try reserve(id)
        let pipeline: DetectionPipeline
        do {
            pipeline = try await self.pipeline(for: spec.modelPath)
        } catch {
            release(id)
            throw error as? ServiceError ?? ServiceError(.failed, "\(spec.model): \(error)")
        }
        let handle: StreamHandle
        do {
            handle = try pipeline.attach(
                id: id, source: spec.source, model: spec.model, loop: spec.loop, realtime: spec.realtime,
                eventsPath: config.eventsFolder + "/" + id + ".jsonl", rotateBytes: config.rotateBytes)
        } catch {
            release(id)
            throw ServiceError(.failed, "\(id): \(error)")
        }
        state.withLock { s in
            s.streams[id] = Entry(spec: spec, handle: handle)
            s.made += 1
        }
        logger.notice(
            "stream added", metadata: ["stream": "\(id)", "source": "\(spec.source)", "model": "\(spec.model)"])
        return handle.info
    }

    /// Removes a stream: it stops reading, its frames in flight drain, and its events file is closed
    /// complete before this returns (or after `timeout` seconds, whichever comes first).
    public func remove(_ id: String, timeout: Double = 10) async throws(ServiceError) {
        guard let entry = state.withLock({ $0.streams[id] }) else {
            throw ServiceError(.notFound, "no stream '\(id)'")
        }
        entry.handle.stop()
        let done = await entry.handle.waitUntilComplete(timeout: timeout)
        state.withLock { s in
            s.streams[id] = nil
            s.order.removeAll { $0 == id }
        }
        logger.notice("stream removed", metadata: ["stream": "\(id)", "drained": "\(done)"])
    }

    /// Stops everything: no more streams, every source stops, frames in flight finish, every events
    /// file is flushed and closed. Returns when the pipelines have ended (or after `timeout` s).
    public func shutdown(timeout: Double = 8) async {
        let hosts = state.withLock { s in
            s.stopping = true
            return Array(s.hosts.values)
        }
        for task in loading.withLock({ Array($0.values) }) { task.cancel() }
        for host in hosts { host.pipeline.stop() }
        let until = Clock.now + timeout
        while hosts.contains(where: { $0.finished.value == nil }), Clock.now < until {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let handles = state.withLock { $0.streams.values.map(\.handle) }
        let complete = handles.filter(\.isComplete).count
        logger.notice("service stopped", metadata: ["streams": "\(handles.count)", "complete": "\(complete)"])
    }

    // MARK: Helpers

    private func reserve(_ id: String) throws(ServiceError) {
        let refusal: ServiceError? = state.withLock { s in
            if s.stopping { return ServiceError(.unavailable, "the service is stopping") }
            if s.streams[id] != nil || s.order.contains(id) {
                return ServiceError(.conflict, "a stream '\(id)' exists already")
            }
            if s.order.count >= Self.maxStreams {
                return ServiceError(.conflict, "this node runs \(Self.maxStreams) streams already")
            }
            s.order.append(id)
            return nil
        }
        if let refusal { throw refusal }
    }

    private func release(_ id: String) {
        state.withLock { s in s.order.removeAll { $0 == id } }
    }

    /// The running pipeline for `model`, started (and awaited until ready) if there is none.
    private func pipeline(for model: String) async throws -> DetectionPipeline {
        if let host = state.withLock({ $0.hosts[model] }) { return host.pipeline }
        let task: Task<DetectionPipeline, any Error> = loading.withLock { tasks in
            if let running = tasks[model] { return running }
            let task = Task { try await self.startPipeline(model) }
            tasks[model] = task
            return task
        }
        defer { _ = loading.withLock { $0.removeValue(forKey: model) } }
        return try await task.value
    }

    private func startPipeline(_ model: String) async throws -> DetectionPipeline {
        var options = PipelineOptions(sources: [], model: model)
        options.keepOpen = true
        options.mode = .batched
        options.batchPolicy = config.policy
        options.batchSizes = config.sizes
        options.batchSize = config.policy == .fixed ? config.sizes[0] : 1
        options.latencySLO = config.latencySLO
        options.device = config.device
        options.sourceTimeout = config.sourceTimeout
        options.expectedStreams = config.streams.filter { $0.modelPath == model }.count
        let pipeline = DetectionPipeline(options: options, logger: logger)
        let outcome = RunOutcome()
        let started = Clock.now
        // The run goes on its own threads until `stop`; its end is kept for `shutdown`.
        Task.detached {
            do {
                outcome.set(.success(try await pipeline.run()))
            } catch {
                outcome.set(.failure(error))
            }
        }
        while !pipeline.isReady {
            if case .failure(let error)? = outcome.value {
                throw ServiceError(.failed, "\(model): \(error)")
            }
            if case .success? = outcome.value { throw ServiceError(.failed, "\(model): the pipeline ended at once") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let refused = state.withLock { s in
            if s.stopping { return true }
            s.hosts[model] = Host(pipeline: pipeline, finished: outcome)
            return false
        }
        if refused {
            pipeline.stop()
            throw ServiceError(.unavailable, "the service is stopping")
        }
        logger.notice(
            "model loaded",
            metadata: ["model": "\(model)", "seconds": "\(String(format: "%.2f", Clock.now - started))"])
        return pipeline
    }
}
