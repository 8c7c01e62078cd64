import Batching
import Core
import Foundation
import InferenceBackend
import Logging
import ModelRegistry
import ModelServing
import Monitoring
import Runtime
import Synchronization
import Vision

/// The models a node serves: one pipeline per model, loaded on first use (by a configured stream,
/// a stream added over HTTP, or the repository API), swapped and unloaded on request.
extension EdgeService {
    // MARK: Models (the inference protocol's view)

    /// Every pipeline serving, one per model.
    public var servedModels: [DetectionPipeline] {
        state.withLock { s in s.hosts.keys.sorted().compactMap { s.hosts[$0]?.pipeline } }
    }

    /// The pipeline serving the model called `name` (its repository name, or its sidecar's).
    public func servedPipeline(named name: String) -> DetectionPipeline? {
        servedModels.first { $0.modelDescription?.name == name }
    }

    /// One entry of the repository index.
    public struct IndexEntry: Sendable, Codable, Equatable {
        public var name: String
        public var version: String?
        public var state: String
        public var reason: String?
    }

    /// The repository's models, and which are loaded (`READY`).
    public func repositoryIndex() -> [IndexEntry] {
        var entries: [IndexEntry] = []
        var seen: Set<String> = []
        if let root = config.repository, let repo = try? ModelRepository(root: root) {
            for name in repo.models() {
                seen.insert(name)
                let latest = (try? repo.latest(of: name))??.version
                let served = servedPipeline(named: name)
                entries.append(
                    IndexEntry(
                        name: name, version: (served?.models?.status.version ?? latest).map(String.init),
                        state: served != nil ? "READY" : "UNAVAILABLE", reason: served != nil ? nil : "unloaded"))
            }
        }
        for p in servedModels {
            guard let d = p.modelDescription, !seen.contains(d.name) else { continue }
            entries.append(IndexEntry(name: d.name, version: String(d.version), state: "READY", reason: nil))
        }
        return entries
    }

    /// Loads `name` from the repository (served at `version`, else its latest), or, when it serves
    /// already, swaps that version in: the on-the-fly swap, with its validation and rollback; a
    /// refusal or failure says why, with the library's own message.
    public func load(model name: String, version asked: Int? = nil) async throws(ServiceError) {
        guard ModelRepository.isValidName(name) else {
            throw ServiceError(.invalid, "invalid model name '\(name.prefix(80))' (use A-Z a-z 0-9 . _ -, 1-64)")
        }
        guard let root = config.repository else { throw ServiceError(.invalid, "no models.repository is configured") }
        let repo: ModelRepository
        let latest: Int
        do {
            repo = try ModelRepository(root: root)
            if let asked {
                // Not there (the fleet sends it then) is told apart from a version that is bad.
                guard FileManager.default.fileExists(atPath: repo.root + "/\(name)/\(asked)") else {
                    throw ServiceError(.notFound, "\(root)/\(name): no version \(asked)")
                }
                latest = try repo.version(name, asked).version
            } else {
                guard let v = try repo.latest(of: name)?.version else {
                    throw ServiceError(.invalid, "\(root)/\(name): no complete version to load")
                }
                latest = v
            }
        } catch let e as ServiceError {
            throw e
        } catch {
            throw Self.mapped(error, model: name)
        }
        if let served = servedPipeline(named: name), let models = served.models {
            guard models.status.version != latest else { return }
            // The version loads on the blocking executor; this resumes when the stream switched. A
            // model no stream feeds reaches no batch boundary: staged, it serves from its next batch.
            do {
                _ = try await models.activate(
                    latest, trigger: "repository-load",
                    wait: ModelManager.switchWait(streaming: hasStreams(named: name)))
            } catch  where error.code == .staged {
                return
            } catch {
                throw ServiceError(error.code == .refused ? .conflict : .invalid, "\(name): \(error.message)")
            }
            return
        }
        guard !isStopping else { throw ServiceError(.unavailable, "the service is stopping") }
        do {
            _ = try await pipeline(for: repo.root + "/" + name, version: asked)
        } catch let e as ServiceError {
            throw e
        } catch {
            throw Self.mapped(error, model: name)
        }
    }

    /// Whether a stream feeds the model called `name` now (a swap waits for a batch boundary only
    /// where batches come).
    public func hasStreams(named name: String) -> Bool { (servedPipeline(named: name)?.batching().streams ?? 0) > 0 }

    /// Versions uploaded to this node kept at most (older ones are removed after each upload).
    public static let keptUploads = 3

    /// After an upload of version `uploaded`: the versions of `name` sent to this node beyond the
    /// `keptUploads` sent last, removed, sparing the one just sent, the one serving, the one before
    /// it, any while a swap or a load is under way, and the one a shadow run judges. Returns those
    /// removed.
    public func pruneUploads(of name: String, uploaded: Int) async -> [Int] {
        guard let root = config.repository, let repository = try? ModelRepository(root: root) else { return [] }
        // A pipeline still loading the model may be reading any of its versions.
        let folder = ModelRepository.canonicalPath(repository.root + "/" + name)
        if loading.withLock({ $0[folder] != nil }) { return [] }
        var spared: Set<Int> = [uploaded]
        if let status = servedPipeline(named: name)?.models?.status {
            // A swap under way may be loading any of them: nothing is removed meanwhile.
            if status.swapping { return [] }
            spared.insert(status.version)
            if let previous = status.previousVersion { spared.insert(previous) }
        }
        if let shadow = try? shadow(model: name), shadow.state == .loading || shadow.state == .running {
            spared.insert(shadow.version)
        }
        let kept = spared
        let removed = await BlockingExecutor.shared.run {
            repository.prune(uploadedOf: name, keep: Self.keptUploads, sparing: kept)
        }
        if !removed.isEmpty {
            logger.notice("uploaded versions removed", metadata: ["model": "\(name)", "versions": "\(removed)"])
        }
        return removed
    }

    /// Unloads `name`: its pipelines (one per version pinned, at most) stop and their versions are
    /// freed. Refused (`conflict`, naming them) while streams use any of them, in whatever state.
    public func unload(model name: String) async throws(ServiceError) {
        let (hosts, users) = state.withLock { s -> ([(key: String, value: Host)], [String]) in
            let hosts = s.hosts.filter { $0.value.pipeline.modelDescription?.name == name }.sorted { $0.key < $1.key }
            let keys = Set(hosts.map(\.key))
            return (hosts, s.order.filter { s.streams[$0].map { keys.contains($0.spec.modelPath) } ?? false })
        }
        guard !hosts.isEmpty else { throw ServiceError(.notFound, "no model '\(name.prefix(80))' is loaded") }
        guard users.isEmpty else {
            throw ServiceError(.conflict, "\(name) serves streams \(users.joined(separator: ", ")): remove them first")
        }
        for (key, host) in hosts {
            host.pipeline.stop()
            _ = await host.finished.wait(timeout: .seconds(10))
            state.withLock { s in s.hosts[key] = nil }
        }
        logger.notice("model unloaded", metadata: ["model": "\(name)"])
    }

    /// A model that cannot be served: the request's fault (400) when the model or its sidecar is
    /// wrong, else the node's (500). Told apart by the errors' codes, not their messages.
    static func mapped(_ error: any Error, model: String) -> ServiceError {
        let code = ErrorCode.of(error)
        let invalid = code == .invalid || code == .notFound
        return ServiceError(invalid ? .invalid : .failed, "\(model): \(error)")
    }

    /// The running pipeline for `model`, started (and awaited until ready) if there is none; a
    /// pipeline started here serves `version` first (the repository's latest when nil).
    func pipeline(for model: String, version: Int? = nil) async throws -> DetectionPipeline {
        // One identity per model, however it is spelled: one pipeline serves every spelling.
        let model = ModelRepository.canonicalPath(model)
        // One lock decides between "serving", "loading" and "to load", so that no model loads twice.
        enum Found {
            case serving(DetectionPipeline)
            case loading(Task<DetectionPipeline, any Error>)
            case refused(ServiceError)
        }
        let found: Found = loading.withLock { tasks in
            let (host, count) = state.withLock { ($0.hosts[model], $0.hosts.count) }
            if let host { return .serving(host.pipeline) }
            if let running = tasks[model] { return .loading(running) }
            if count + tasks.count >= Self.maxModels {
                return .refused(ServiceError(.conflict, "this node serves \(Self.maxModels) models already"))
            }
            let task = Task { try await self.startPipeline(model, version: version) }
            tasks[model] = task
            return .loading(task)
        }
        let task: Task<DetectionPipeline, any Error>
        switch found {
        case .serving(let pipeline): return pipeline
        case .refused(let refusal): throw refusal
        case .loading(let t): task = t
        }
        defer { _ = loading.withLock { $0.removeValue(forKey: model) } }
        return try await task.value
    }

    private func startPipeline(_ model: String, version: Int?) async throws -> DetectionPipeline {
        var options = PipelineOptions(sources: [], model: model)
        options.modelVersion = version
        options.keepOpen = true
        options.mode = .batched
        options.batchPolicy = config.policy
        options.batchSizes = config.sizes
        options.batchSize = config.policy == .fixed ? config.sizes[0] : 1
        options.latencySLO = config.latencySLO
        options.device = config.device
        options.sourceTimeout = config.sourceTimeout
        options.eventsFlushInterval = config.eventsFlush
        options.watch = config.watch
        options.expectedStreams = config.streams.filter { ModelRepository.canonicalPath($0.modelPath) == model }.count
        let pipeline = DetectionPipeline(
            options: options, logger: logger, metrics: metrics, events: events,
            recorder: sinks.map { SinkRecorder(sinks: $0) }, media: media)
        let outcome = RunOutcome()
        let started = Clock.now
        let stopping = state.withLock { s in
            if !s.stopping { s.starting[model] = Host(pipeline: pipeline, finished: outcome) }
            return s.stopping
        }
        if stopping { throw ServiceError(.unavailable, "the service is stopping") }
        // The run goes on its own threads until `stop`; its end is kept for `shutdown`.
        Task.detached {
            do {
                outcome.complete(.success(try await pipeline.run()))
            } catch {
                outcome.complete(.failure(error))
            }
        }
        do {
            // Resumed by the run when streams can attach, or when it ended first.
            switch await pipeline.waitUntilReady() {
            case true?: break
            case false?:
                if case .failure(let error)? = await outcome.wait() { throw Self.mapped(error, model: model) }
                throw ServiceError(.failed, "\(model): the pipeline ended at once")
            case nil: throw CancellationError()
            }
        } catch {
            // Cancelled (the service stops while the model loads) or failed: the run must not go on.
            pipeline.stop()
            throw error
        }
        let refused = state.withLock { s in
            if s.stopping || s.hosts[model] != nil { return true }
            s.hosts[model] = Host(pipeline: pipeline, finished: outcome)
            s.starting.removeValue(forKey: model)
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
