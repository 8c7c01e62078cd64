import Batching
import Foundation
import Hummingbird
import ModelRegistry
import Monitoring
import NIOCore
import Pipeline
import Vision

/// Batchline's own routes beside the streams: models and their swaps, batching, the system.
///
/// - `GET /api/v1/models`: each model served, its version, the previous one, whether a swap is under
///   way, the versions in the repository, and the latest swaps with their load, compile and warm-up
///   times;
/// - `POST /api/v1/models/{name}/activate` (`{"version": N}`) and `POST /api/v1/models/{name}/rollback`:
///   the on-the-fly swap, answered when the new version serves (or with the reason it does not);
/// - `GET /api/v1/batching`: per model, the policy, sizes, current batch size and requests in
///   flight, recent decisions with their reasons, and the measured stage costs per batch size;
///   `PUT /api/v1/batching` (`{"policy": "realtime", "batch_size": 4, "latency_slo_ms": 200}`);
/// - `GET /api/v1/system`: process and machine CPU, RSS, cgroup memory, GPUs, the machine.
enum RestRoutes {
    struct ModelEntry: Encodable {
        var name: String
        var path: String
        var version: Int
        var previous_version: Int?
        var swapping: Bool
        var versions: [Int]
        var swaps: [SwapRecord]
        /// Each version's precision and, for a derived one, where it came from and its gate figures.
        var version_details: [VersionDetail]
        /// Candidates the accuracy gate refused (never served), with their figures.
        var refused: [VersionDetail]
    }

    struct VersionDetail: Encodable {
        var version: Int
        var precision: String?
        var derived_from: Int?
        var method: String?
        var gate: Gate?

        struct Gate: Encodable {
            var metric: String
            var score: Double
            var threshold: Double
            var passed: Bool
            var frames: Int
            var mean_iou: Double?
            var matched: Int?
            var missed: Int?
            var extra: Int?
            var original_fps: Double
            var candidate_fps: Double
            var summary: String
        }

        init(version: Int, spec: ModelSpec) {
            self.version = version
            precision = spec.precision
            derived_from = spec.derived?.from
            method = spec.derived?.method
            gate = spec.derived.map { d in
                let g = d.gate
                return Gate(
                    metric: g.metric, score: g.score, threshold: g.threshold, passed: g.passed, frames: g.frames,
                    mean_iou: g.meanIoU, matched: g.matched, missed: g.missed, extra: g.extra,
                    original_fps: g.originalFPS, candidate_fps: g.candidateFPS, summary: g.summary)
            }
        }
    }

    struct BatchingEntry: Encodable {
        var model: String
        var batching: DetectionPipeline.BatchingStatus
    }

    struct SystemReply: Encodable {
        var sample: ResourceSample?
        var machine: MachineInfo
        var cgroup_memory_limit_bytes: Int?
        var models: Int
        var streams: Int
    }

    /// `POST /api/v1/models/{name}/activate`'s body: `{"version": N}`.
    struct ActivateRequest: Decodable {
        var version: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case version
        }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            version = try c.strict(Int.self, forKey: .version)
        }
    }

    /// `PUT /api/v1/batching`'s body: `{"policy", "batch_size", "latency_slo_ms", "model"}`, the
    /// policy required (checked by the route, with the policies in its refusal), the others optional.
    struct BatchingChange: Decodable {
        var policy: String?
        var batchSize: Int?
        var latencySLOms: Double?
        /// The model to change; nil: every model served.
        var model: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case policy
            case batchSize = "batch_size"
            case latencySLOms = "latency_slo_ms"
            case model
        }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            policy = try c.strict(String.self, forKey: .policy)
            batchSize = try c.strict(Int.self, forKey: .batchSize)
            latencySLOms = try c.strict(Double.self, forKey: .latencySLOms)
            model = try c.strict(String.self, forKey: .model)
        }
    }

    static func add(to router: Router<BasicRequestContext>, service: EdgeService, sampler: ResourceMonitor?) {
        router.get("/api/v1/models") { _, _ in
            ControlPlane.json(service.modelEntries())
        }
        router.post("/api/v1/models/:name/activate") { request, context in
            let name = context.parameters.get("name") ?? ""
            let body: ActivateRequest
            switch await ControlPlane.decodeBody(request, as: ActivateRequest.self) {
            case .success(let b): body = b
            case .failure(let refusal): return refusal.response
            }
            guard let version = body.version, version >= 0 else {
                return ControlPlane.error(.badRequest, "version: give the version number to serve")
            }
            if let entry = service.modelEntries().first(where: { $0.name == name }), !entry.versions.contains(version) {
                let known = entry.versions.map(String.init).joined(separator: ", ")
                return ControlPlane.error(.notFound, "\(name) has no version \(version) (it has \(known))")
            }
            return await swap(service, name) { try $0.activate(version, trigger: "http") }
        }
        router.post("/api/v1/models/:name/rollback") { _, context in
            let name = context.parameters.get("name") ?? ""
            return await swap(service, name) { try $0.rollback() }
        }
        router.get("/api/v1/batching") { _, _ in
            ControlPlane.json(
                service.servedModels.compactMap { p in
                    p.modelDescription.map { BatchingEntry(model: $0.name, batching: p.batching()) }
                })
        }
        router.put("/api/v1/batching") { request, _ in
            let change: BatchingChange
            switch await ControlPlane.decodeBody(request, as: BatchingChange.self) {
            case .success(let c): change = c
            case .failure(let refusal): return refusal.response
            }
            guard let name = change.policy, let policy = BatchPolicy(rawValue: name) else {
                let all = BatchPolicy.allCases.map(\.rawValue).joined(separator: ", ")
                return ControlPlane.error(.badRequest, "policy: give one of \(all)")
            }
            let size = change.batchSize
            if let size, !(1...256).contains(size) { return ControlPlane.error(.badRequest, "batch_size: 1...256") }
            let ms = change.latencySLOms
            if let ms, !(1...60_000).contains(ms) {
                return ControlPlane.error(.badRequest, "latency_slo_ms: 1...60000")
            }
            let model = change.model
            let targets = service.servedModels.filter { p in model == nil || p.modelDescription?.name == model }
            guard !targets.isEmpty else { return ControlPlane.error(.notFound, "no model '\(model ?? "")' is loaded") }
            for p in targets {
                do {
                    try p.reconfigure(policy: policy, size: size, latencySLO: ms.map { $0 / 1000 })
                } catch {
                    return ControlPlane.error(.badRequest, "\(error)")
                }
            }
            return ControlPlane.json(
                targets.compactMap { p in
                    p.modelDescription.map { BatchingEntry(model: $0.name, batching: p.batching()) }
                })
        }
        router.get("/api/v1/system") { _, _ in
            let monitor = sampler ?? ResourceMonitor(interval: 1, keep: 1)
            return ControlPlane.json(
                SystemReply(
                    sample: sampler?.recent.last, machine: monitor.machine,
                    cgroup_memory_limit_bytes: ResourceMonitor.cgroupMemoryLimit(), models: service.servedModels.count,
                    streams: service.streams.count))
        }
    }

    /// A swap on the model called `name`, on a thread of its own (it blocks while the version loads).
    static func swap(
        _ service: EdgeService, _ name: String, _ body: @escaping @Sendable (ModelManager) throws -> SwapRecord
    ) async -> Response {
        guard let models = service.servedPipeline(named: name)?.models else {
            return ControlPlane.error(.notFound, "no model '\(name.prefix(80))' is loaded")
        }
        let result = await onThread("batchline-swap") { () throws(any Error) in try body(models) }
        switch result {
        case .success(let record): return ControlPlane.json(record)
        case .failure(let e as ModelSwapError):
            return ControlPlane.error(e.code == .refused ? .conflict : .badRequest, e.message)
        case .failure(let e): return ControlPlane.error(.internalServerError, "\(e)")
        }
    }
}

extension EdgeService {
    /// Each model served, for `GET /api/v1/models`.
    func modelEntries() -> [RestRoutes.ModelEntry] {
        servedModels.compactMap { p in
            guard let d = p.modelDescription, let status = p.models?.status else { return nil }
            let repo = config.repository.flatMap { try? ModelRepository(root: $0) }
            // Each sidecar read once; without a repository, only the version serving.
            let checked = (try? repo?.checkedVersions(of: d.name)) ?? []
            let all = checked.isEmpty ? [status.version] : checked.map(\.version)
            let details = checked.map { RestRoutes.VersionDetail(version: $0.version, spec: $0.spec) }
            let refused = repo.map {
                $0.refused(of: d.name).map { RestRoutes.VersionDetail(version: $0.version, spec: $0.spec) }
            }
            return RestRoutes.ModelEntry(
                name: d.name, path: p.options.model, version: status.version, previous_version: status.previousVersion,
                swapping: status.swapping, versions: all, swaps: status.swaps, version_details: details,
                refused: refused ?? [])
        }
    }
}
