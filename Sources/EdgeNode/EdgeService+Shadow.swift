import Foundation
import Logging
import ModelRegistry
import ModelServing
import Runtime
import Synchronization
import VideoIO

// Shadow evaluation: a version judged on the node's own frames before it serves them.
extension EdgeService {
    /// The most frames a shadow run compares.
    public static let maxShadowFrames = 1000

    /// Starts judging `version` of model `name` against its serving version on the frames of the
    /// streams it serves: `frames` frames (1...1000), one every `every` seconds (0.1...60), off the
    /// hot path; a run already going for the model is stopped first.
    public func startShadow(model name: String, version: Int, frames: Int, every: Double) throws(ServiceError)
        -> ShadowStatus
    {
        guard (1...Self.maxShadowFrames).contains(frames) else {
            throw ServiceError(.invalid, "frames: must be within 1...\(Self.maxShadowFrames)")
        }
        guard every >= 0.1 && every <= 60 else { throw ServiceError(.invalid, "every_ms: must be within 100...60000") }
        guard let pipeline = servedPipeline(named: name), let serving = pipeline.models?.status.version else {
            throw ServiceError(.notFound, "model '\(name)' is not served here (a stream must use it)")
        }
        guard let root = config.repository else { throw ServiceError(.invalid, "no models.repository is configured") }
        let candidate: ModelVersion
        let current: ModelVersion
        do {
            let repository = try ModelRepository(root: root)
            candidate = try repository.version(name, version)
            current = try repository.version(name, serving)
        } catch {
            throw ServiceError(.notFound, "\(name): \(error)")
        }
        let run = ShadowRun(
            model: name, candidate: candidate, serving: current, target: frames, every: every, device: config.device,
            frames: { [weak self] in self?.latestFrames(of: pipeline) ?? [] })
        let replaced = shadows.withLock { runs -> ShadowRun? in
            defer { runs[name] = run }
            return runs[name]
        }
        replaced?.stop()
        logger.notice(
            "shadow evaluation started",
            metadata: ["model": "\(name)", "version": "\(version)", "serving": "\(serving)", "frames": "\(frames)"])
        return run.status.withLock { $0 }
    }

    /// Model `name`'s latest shadow evaluation.
    public func shadow(model name: String) throws(ServiceError) -> ShadowStatus {
        guard let run = shadows.withLock({ $0[name] }) else {
            throw ServiceError(.notFound, "no shadow evaluation of '\(name)' (POST one)")
        }
        return run.status.withLock { $0 }
    }

    /// Stops every shadow run (the node stops).
    func stopShadows() {
        for run in shadows.withLock({ Array($0.values) }) { run.stop() }
    }

    /// The latest frame of each stream `pipeline` serves, by stream id.
    func latestFrames(of pipeline: DetectionPipeline) -> [(id: String, frame: VideoFrame)] {
        let handles = state.withLock { s -> [StreamHandle] in
            let keys = Set(s.hosts.filter { $0.value.pipeline === pipeline }.map(\.key))
            return s.order.compactMap { s.streams[$0] }.filter {
                keys.contains(ModelRepository.canonicalPath($0.spec.modelPath))
            }.map(\.handle)
        }
        return handles.compactMap { h in h.latest.map { (h.id, $0.frame) } }
    }
}
