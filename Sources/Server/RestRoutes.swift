import Batching
import Delivery
import EdgeNode
import Foundation
import Hummingbird
import Logging
import ModelRegistry
import Monitoring
import NIOCore
import Runtime
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
/// - `GET /api/v1/sinks`: each sink (MQTT, webhook), its state and last error, its outbox (depth,
///   bytes, the oldest's age), what it sent, retried and dropped;
/// - `GET /api/v1/system`: process and machine CPU, RSS, cgroup memory, GPUs, the machine.
enum RestRoutes {
    struct BatchingEntry: Encodable {
        var model: String
        var batching: DetectionPipeline.BatchingStatus
    }

    struct SystemReply: Encodable {
        /// The node's name: its `--node` (Kubernetes: the node it runs on), else the host's name.
        var node: String
        var sample: ResourceSample?
        var machine: MachineInfo
        var cgroup_memory_limit_bytes: Int?
        var models: Int
        var streams: Int
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

    static func add(to router: Router<ControlContext>, service: EdgeService, sampler: ResourceMonitor?) {
        ModelRoutes.add(to: router, control: service, trigger: "http")
        ShadowRoutes.add(to: router, service: service)
        // Into the node's own repository (where the fleet sends what it rolls out); token only.
        let uploads = VersionUploads(
            root: service.config.repository, guarded: service.config.tokenFile != nil,
            refusal: service.config.watch == false
                ? nil
                : "this node swaps to a new version of its repository on its own: set models.watch: false to take versions from the fleet (which serves them once judged)"
        )
        router.put("/api/v1/models/:name/versions/:version") { request, context in
            let received = await uploads.receive(
                request, name: context.parameters.get("name") ?? "", version: context.parameters.get("version") ?? "")
            if let (model, version) = received.added {
                service.logger.notice("version uploaded", metadata: ["model": "\(model)", "version": "\(version)"])
                // One version per rollout: the oldest uploads go (never the one serving).
                _ = await service.pruneUploads(of: model, uploaded: version)
            }
            return received.response
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
                    return ControlPlane.error(error)
                }
            }
            return ControlPlane.json(
                targets.compactMap { p in
                    p.modelDescription.map { BatchingEntry(model: $0.name, batching: p.batching()) }
                })
        }
        router.get("/api/v1/sinks") { _, _ in
            ControlPlane.json(await service.sinks?.statuses() ?? [])
        }
        router.get("/api/v1/system") { _, _ in
            let monitor = sampler ?? ResourceMonitor(interval: 1, keep: 1)
            return ControlPlane.json(
                SystemReply(
                    node: service.config.node ?? ProcessInfo.processInfo.hostName, sample: sampler?.recent.last,
                    machine: monitor.machine,
                    cgroup_memory_limit_bytes: ResourceMonitor.cgroupMemoryLimit(), models: service.servedModels.count,
                    streams: service.streams.count))
        }
    }
}
