import EdgeNode
import Foundation
import Hummingbird
import ModelRegistry
import ModelServing
import Runtime
import Vision

/// What the model routes need of whoever serves models: a node (`serve`, every model it serves)
/// or one `run` (its model, over its control socket). The one control interface both use.
protocol ModelControl: Sendable {
    /// Each model served, for `GET /api/v1/models`.
    func modelEntries() -> [ModelEntry]
    /// The manager of the model called `name`, if it is served.
    func modelManager(named name: String) -> ModelManager?
    /// Whether any stream feeds the model called `name` now (a switch waits for a batch boundary
    /// only where batches come).
    func hasStreams(named name: String) -> Bool
}

extension ModelControl {
    func hasStreams(named name: String) -> Bool { true }
}

/// One model served, as `GET /api/v1/models` and `batchline models status` show it.
public struct ModelEntry: Codable, Sendable {
    /// The model's name.
    public var name: String
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

    /// The entry of `pipeline`'s model called `name`, with the versions `repository` holds (only the
    /// version serving without one); nil before the model is ready.
    init?(name: String, pipeline: DetectionPipeline, repository: ModelRepository?) {
        guard let status = pipeline.models?.status else { return nil }
        // Each sidecar read once.
        let checked = (try? repository?.checkedVersions(of: name)) ?? []
        self.name = name
        path = pipeline.options.model
        version = status.version
        previous_version = status.previousVersion
        swapping = status.swapping
        versions = checked.isEmpty ? [status.version] : checked.map(\.version)
        swaps = status.swaps
        version_details = checked.map { VersionDetail(version: $0.version, spec: $0.spec) }
        refused = repository?.refused(of: name).map { VersionDetail(version: $0.version, spec: $0.spec) } ?? []
    }
}

/// A version's precision and provenance.
struct VersionDetail: Codable, Sendable {
    var version: Int
    var precision: String?
    var derived_from: Int?
    var method: String?
    var gate: Gate?

    struct Gate: Codable, Sendable {
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

/// The model routes, on `serve`'s HTTP server and on a `run`'s control socket alike:
/// - `GET /api/v1/models`: each model served, its version, the previous one, whether a swap is
///   under way, the versions in the repository, and the latest swaps with their timings;
/// - `POST /api/v1/models/{name}/activate` (`{"version": N}`) and `POST /api/v1/models/{name}/rollback`:
///   the on-the-fly swap, answered when the new version serves (or with the reason it does not).
enum ModelRoutes {
    /// Adds the routes for `control`; swaps are recorded with `trigger`.
    static func add(to router: Router<ControlContext>, control: some ModelControl, trigger: String) {
        router.get("/api/v1/models") { _, _ in
            ControlPlane.json(control.modelEntries())
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
            // A repository's versions are known: one it does not hold is not found (without one, the
            // model's own loader says).
            if let entry = control.modelEntries().first(where: { $0.name == name }), !entry.version_details.isEmpty,
                !entry.versions.contains(version)
            {
                let known = entry.versions.map(String.init).joined(separator: ", ")
                return ControlPlane.error(
                    .notFound, "\(name) has no version \(version) (no such version in the repository; it has \(known))")
            }
            // An idle model (no stream) reaches no batch boundary: staged at once, serving from the next.
            let wait = ModelManager.switchWait(streaming: control.hasStreams(named: name))
            return await swap(control, name) { models throws(ModelSwapError) in
                try await models.activate(version, trigger: trigger, wait: wait)
            }
        }
        router.post("/api/v1/models/:name/rollback") { _, context in
            let name = context.parameters.get("name") ?? ""
            return await swap(control, name) { models throws(ModelSwapError) in try await models.rollback() }
        }
    }

    /// A swap on the model called `name`, answered when it is done: the loading runs on the blocking
    /// executor, and the wait for the switch point is resumed by the stream.
    static func swap(
        _ control: some ModelControl, _ name: String,
        _ body: @Sendable (ModelManager) async throws(ModelSwapError) -> SwapRecord
    ) async -> Response {
        guard let models = control.modelManager(named: name) else {
            return ControlPlane.error(.notFound, "no model '\(name.prefix(80))' is loaded")
        }
        do {
            return ControlPlane.json(try await body(models))
        } catch  where error.code == .staged {
            // Accepted: it serves from the stream's next batch.
            return ControlPlane.json(["state": "staged", "message": error.message], status: .accepted)
        } catch {
            return ControlPlane.error(ControlPlane.status(of: error), error.message)
        }
    }
}

extension EdgeService: ModelControl {
    /// Each model served, for `GET /api/v1/models`.
    func modelEntries() -> [ModelEntry] {
        let repository = config.repository.flatMap { try? ModelRepository(root: $0) }
        return servedModels.compactMap { p in
            p.modelDescription.flatMap { ModelEntry(name: $0.name, pipeline: p, repository: repository) }
        }
    }

    /// The manager of the model called `name`.
    func modelManager(named name: String) -> ModelManager? { servedPipeline(named: name)?.models }

}

/// One `run`'s model, as its control socket shows it.
struct RunModels: ModelControl {
    let pipeline: DetectionPipeline
    let repository: ModelRepository?
    let name: String

    init(pipeline: DetectionPipeline) {
        self.pipeline = pipeline
        let folder = try? ModelRepository.modelFolder(pipeline.options.model)
        repository = folder?.0
        name = folder?.1 ?? URL(fileURLWithPath: pipeline.options.model).lastPathComponent
    }

    func modelEntries() -> [ModelEntry] {
        ModelEntry(name: name, pipeline: pipeline, repository: repository).map { [$0] } ?? []
    }

    func modelManager(named name: String) -> ModelManager? { name == self.name ? pipeline.models : nil }
}
