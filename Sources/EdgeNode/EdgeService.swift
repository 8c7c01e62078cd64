import Analytics
import Batching
import Core
import CoreMetrics
import Delivery
import Foundation
import InferenceBackend
import Logging
import ModelRegistry
import ModelServing
import Monitoring
import Runtime
import Synchronization
import Vision

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

    struct Entry: Sendable {
        var spec: StreamSpec
        var handle: StreamHandle
    }

    struct Host: Sendable {
        var pipeline: DetectionPipeline
        var finished: RunOutcome
    }

    /// How a pipeline's run ended, set when it did.
    typealias RunOutcome = Completion<Result<RunReport, any Error>>

    struct State: Sendable {
        var streams: [String: Entry] = [:]
        /// Streams removed whose frames in flight are still draining: no longer listed or reachable,
        /// their ids still taken (in `order`) until they are out.
        var leaving: [String: Entry] = [:]
        /// In the order they were added, for listing.
        var order: [String] = []
        var hosts: [String: Host] = [:]
        /// Pipelines whose run began but that serve no stream yet (a model loading, compiling):
        /// stopped and waited for at shutdown too, so that the process never exits while a C
        /// library is still compiling on one of their threads. One per model at most.
        var starting: [String: Host] = [:]
        var stopping = false
        var made = 0
    }

    public let config: ServiceConfig
    let state = Mutex(State())
    let loading = Mutex<[String: Task<DetectionPipeline, any Error>]>([:])
    /// Each model's shadow evaluation, the latest (one per model served at most).
    let shadows = Mutex<[String: ShadowRun]>([:])
    public let logger: Logger
    let ready = Atomic<Bool>(false)
    /// Makes the series of the node's models and streams.
    let metrics: any MetricsFactory
    /// What happens on the node, told as it happens: stream changes, batch size decisions, swaps
    /// (the event feed listens here).
    public let events = EventHub<NodeEvent>()
    /// Where its streams' analytics events are delivered besides their events files (nil: nowhere).
    public let sinks: EventSinks?
    /// Where its events' snapshots and clips are kept.
    public let media: EventMedia

    /// A node serves at most this many models at once (each holds its compiled versions and threads).
    public static let maxModels = 8

    /// A node serving `config`; its models and streams count what they do through `metrics` (the
    /// process's bootstrapped factory unless given).
    public init(
        config: ServiceConfig, logger: Logger = Logger(label: "batchline.service"),
        metrics: any MetricsFactory = MetricsSystem.factory, sinks: EventSinks? = nil,
        media: EventMedia = EventMedia()
    ) {
        self.media = media
        self.config = config
        self.logger = logger
        self.metrics = metrics
        self.sinks = sinks
    }

    /// Whether every configured stream's model is loaded, none has failed, and the service is not
    /// stopping.
    public var isReady: Bool {
        ready.load(ordering: .acquiring)
            && state.withLock { s in !s.stopping && s.hosts.values.allSatisfy { $0.finished.value == nil } }
    }

    /// Why the node is not ready, or nil when it is: models loading or failed, stopping, or a
    /// stream whose events file cannot be written (a full disk: its lines are held, then lost).
    public var notReadyReason: String? {
        if isStopping { return "not ready: stopping" }
        guard isReady else { return "not ready: models are loading" }
        let failing = streams.filter { $0.eventsError != nil }
        guard let first = failing.first else { return nil }
        return
            "not ready: events of \(failing.map(\.id).joined(separator: ", ")) cannot be written: \(first.eventsError!)"
    }

    /// Whether `beginShutdown` was called.
    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// Checks what the config needs (the events folder written to, the device there), loads every
    /// configured model and starts the configured streams. Streams over HTTP are refused (503)
    /// until this is done. A problem is thrown as a `ConfigError`: one line naming file and key.
    public func start() async throws {
        let config = self.config
        if let problem = await BlockingExecutor.shared.run({ config.environmentProblems(keepFolders: true) }).first {
            throw problem
        }
        for model in Set(config.streams.map { ModelRepository.canonicalPath($0.modelPath) }).sorted() {
            do {
                _ = try await pipeline(for: model)
            } catch let error as ServiceError where error.code == .invalid || error.code == .failed {
                throw ConfigError(file: config.file, key: config.modelKeys[model] ?? "models", error.message)
            }
        }
        for spec in config.streams {
            _ = try await add(spec, configured: true)
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

    /// Whether a request may have `modelPath` loaded: a model folder of the repository (its name
    /// validated, no way out of it), or a model the node serves already.
    public func mayLoadOverHTTP(_ modelPath: String) -> Bool {
        let modelPath = ModelRepository.canonicalPath(modelPath)
        if state.withLock({ $0.hosts[modelPath] != nil })
            || config.streams.contains(where: { ModelRepository.canonicalPath($0.modelPath) == modelPath })
        {
            return true
        }
        guard let root = config.repository else { return false }
        // Where it really is (no symbolic link out), as a model or version folder of the repository.
        let real = URL(fileURLWithPath: modelPath).resolvingSymlinksInPath().standardizedFileURL.path
        let realRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        guard real.hasPrefix(realRoot + "/") else { return false }
        let parts = real.dropFirst(realRoot.count + 1).split(separator: "/").map(String.init)
        guard (1...2).contains(parts.count), ModelRepository.isValidName(parts[0]) else { return false }
        return parts.count == 1 || parts[1].allSatisfy(\.isNumber)
    }

    /// One stream's handle (to observe it).
    public func handle(_ id: String) -> StreamHandle? { state.withLock { $0.streams[id]?.handle } }

    /// Adds a stream: its model is loaded if no stream uses it yet, and it joins that model's
    /// batcher. A live URL that cannot be reached yet is accepted and retried.
    public func add(_ spec: StreamSpec) async throws(ServiceError) -> StreamInfo {
        guard ready.load(ordering: .acquiring) else {
            throw ServiceError(.unavailable, "not ready: the configured streams are still starting")
        }
        return try await add(spec, configured: false)
    }

    private func add(_ spec: StreamSpec, configured: Bool) async throws(ServiceError) -> StreamInfo {
        var spec = spec
        // Whoever made the entry (a config, a request body), the node's policy decides what is opened.
        if let refusal = config.sourcePolicy.refusal(spec.source) {
            throw ServiceError(.invalid, "source: \(refusal)")
        }
        spec.modelPath = ModelRepository.canonicalPath(spec.modelPath)
        let id = try reserve(spec.id)
        spec.id = id
        let pipeline: DetectionPipeline
        do {
            pipeline = try await self.pipeline(for: spec.modelPath)
        } catch {
            release(id)
            throw error as? ServiceError
                ?? (error is CancellationError
                    ? ServiceError(.unavailable, "the service is stopping") : Self.mapped(error, model: spec.model))
        }
        let handle: StreamHandle
        do {
            handle = try pipeline.attach(
                id: id, source: spec.source, model: spec.model, loop: spec.loop, realtime: spec.realtime,
                eventsPath: config.eventsFolder + "/" + id + ".jsonl", rotateBytes: config.rotateBytes,
                keep: config.keep, tracking: spec.tracking, record: spec.record)
        } catch let e as PipelineError where e.code == .notReady {
            release(id)
            throw ServiceError(.unavailable, "\(id): \(e)")
        } catch {
            release(id)
            throw ServiceError(.failed, "\(id): \(error)")
        }
        state.withLock { s in s.streams[id] = Entry(spec: spec, handle: handle) }
        logger.notice(
            "stream added",
            metadata: [
                "stream": "\(id)", "source": "\(SourcePolicy.redacted(spec.source))", "model": "\(spec.model)",
                "configured": "\(configured)",
            ])
        return handle.info
    }

    /// Replaces the lines and zones of tracked stream `id` while it runs (`PUT
    /// /api/v1/streams/{id}/analytics`): checked against its frame's size; counts begin again.
    public func replaceAnalytics(_ id: String, with spec: AnalyticsSpec) throws(ServiceError) {
        guard let entry = state.withLock({ $0.streams[id] }) else { throw ServiceError(.notFound, "no stream '\(id)'") }
        guard entry.spec.track else {
            throw ServiceError(.conflict, "stream '\(id)' is not tracked: lines and zones need track: true")
        }
        do {
            try entry.handle.replaceAnalytics(spec)
        } catch {
            throw ServiceError(.invalid, "analytics: \(error.message)")
        }
        state.withLock { $0.streams[id]?.spec.analytics = spec.isEmpty ? nil : spec }
        logger.notice(
            "stream analytics replaced",
            metadata: ["stream": "\(id)", "lines": "\(spec.lines.count)", "zones": "\(spec.zones.count)"])
    }

    /// Removes a stream: it is gone from the node's view at once (listing, routes), stops reading,
    /// its frames in flight drain, its events file is closed complete, and its series go; true once
    /// all that is done. If it takes longer than `timeout` seconds (a loaded node, a source slow to
    /// give up) this returns false and the draining goes on behind (its id stays taken until then).
    @discardableResult
    public func remove(_ id: String, timeout: Duration = .seconds(5)) async throws(ServiceError) -> Bool {
        guard
            let entry = state.withLock({ s -> Entry? in
                guard let entry = s.streams.removeValue(forKey: id) else { return nil }
                s.leaving[id] = entry
                return entry
            })
        else {
            throw ServiceError(.notFound, "no stream '\(id)'")
        }
        entry.handle.stop()
        guard await entry.handle.waitUntilComplete(timeout: timeout) else {
            Task.detached {
                // Bounded too: a stream that never drains frees its id after ten minutes.
                _ = await entry.handle.waitUntilComplete(timeout: .seconds(600))
                self.forget(id, entry)
            }
            return false
        }
        forget(id, entry)
        return true
    }

    /// A removed stream is out: its id is free again and its series go.
    private func forget(_ id: String, _ entry: Entry) {
        let removed = state.withLock { s in
            guard s.leaving[id]?.handle === entry.handle else { return false }
            // Before the id is free again: a stream added under it makes series of the same name.
            entry.handle.destroyMetrics()
            s.leaving[id] = nil
            s.order.removeAll { $0 == id }
            return true
        }
        if removed {
            events.publish(
                .stream(
                    StreamChange(
                        stream: id, from: entry.handle.info.state.rawValue, to: "removed", lastError: nil, reconnects: 0
                    )))
            logger.notice("stream removed", metadata: ["stream": "\(id)"])
        }
    }

    /// The first step of stopping, at once: no more streams, readiness goes, every source stops
    /// (its waits are abandoned), and the pipelines drain on their own threads.
    public func beginShutdown() {
        let hosts = state.withLock { s in
            s.stopping = true
            return Array(s.hosts.values) + Array(s.starting.values)
        }
        for task in loading.withLock({ Array($0.values) }) { task.cancel() }
        for host in hosts { host.pipeline.stop() }
    }

    /// Stops everything: no more streams, every source stops, frames in flight finish, every events
    /// file is flushed and closed. Returns when the pipelines have ended (or after `timeout` s).
    public func shutdown(timeout: Double = 8) async {
        beginShutdown()
        stopShadows()
        let hosts = state.withLock { Array($0.hosts.values) + Array($0.starting.values) }
        let until = Clock.now + timeout
        // Each pipeline's end resumes this (within what is left of the time-out).
        for host in hosts {
            let left = until - Clock.now
            guard left > 0 else { break }
            _ = await host.finished.wait(timeout: .seconds(left))
        }
        let handles = state.withLock { $0.streams.values.map(\.handle) }
        let complete = handles.filter(\.isComplete).count
        logger.notice("service stopped", metadata: ["streams": "\(handles.count)", "complete": "\(complete)"])
    }

    // MARK: Helpers

    /// Takes `id` (or makes one up, `stream-N`) in one step, so that two requests cannot take the same.
    private func reserve(_ id: String?) throws(ServiceError) -> String {
        let result: Result<String, ServiceError> = state.withLock { s in
            if s.stopping { return .failure(ServiceError(.unavailable, "the service is stopping")) }
            if s.order.count >= Self.maxStreams {
                return .failure(ServiceError(.conflict, "this node runs \(Self.maxStreams) streams already"))
            }
            var name = id
            if name == nil {
                while s.order.contains("stream-\(s.made)") { s.made += 1 }
                name = "stream-\(s.made)"
                s.made += 1
            }
            guard !s.order.contains(name!) else {
                let why = s.leaving[name!] != nil ? "is still stopping; ask again" : "exists already"
                return .failure(ServiceError(.conflict, "a stream '\(name!)' \(why)"))
            }
            s.order.append(name!)
            return .success(name!)
        }
        return try result.get()
    }

    private func release(_ id: String) {
        state.withLock { s in s.order.removeAll { $0 == id } }
    }

}

extension ServiceError: CodedError {
    /// The code in the shared vocabulary.
    public var errorCode: ErrorCode {
        switch code {
        case .invalid: .invalid
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable: .unavailable
        case .failed: .failed
        }
    }
}
