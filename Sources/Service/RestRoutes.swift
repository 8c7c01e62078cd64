import Batching
import Foundation
import Hummingbird
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
/// - `GET /api/v1/system`: process and machine CPU, RSS, cgroup memory, GPUs, the machine.
enum RestRoutes {
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

    static func add(to router: Router<BasicRequestContext>, service: EdgeService, sampler: ResourceMonitor?) {
        ModelRoutes.add(to: router, control: service, trigger: "http")
        router.get("/api/v1/batching") { _, _ in
            ControlPlane.json(
                service.servedModels.compactMap { p in
                    p.modelDescription.map { BatchingEntry(model: $0.name, batching: p.batching()) }
                })
        }
        router.put("/api/v1/batching") { request, _ in
            let body: [String: Any]
            switch await ControlPlane.jsonObject(request, keys: ["policy", "batch_size", "latency_slo_ms", "model"]) {
            case .success(let b): body = b
            case .failure(let response): return response
            }
            guard let name = body["policy"] as? String, let policy = BatchPolicy(rawValue: name) else {
                let all = BatchPolicy.allCases.map(\.rawValue).joined(separator: ", ")
                return ControlPlane.error(.badRequest, "policy: give one of \(all)")
            }
            let size =
                body["batch_size"] as? Int
                ?? (body["batch_size"] as? Double).flatMap { $0 == $0.rounded() && abs($0) < 1e9 ? Int($0) : nil }
            if body["batch_size"] != nil && size == nil {
                return ControlPlane.error(.badRequest, "batch_size: an integer")
            }
            if let size, !(1...256).contains(size) { return ControlPlane.error(.badRequest, "batch_size: 1...256") }
            if body["model"] != nil && !(body["model"] is String) {
                return ControlPlane.error(.badRequest, "model: a model's name")
            }
            let ms = body["latency_slo_ms"] as? Double ?? (body["latency_slo_ms"] as? Int).map(Double.init)
            if body["latency_slo_ms"] != nil && ms == nil {
                return ControlPlane.error(.badRequest, "latency_slo_ms: a number")
            }
            if let ms, !(1...60_000).contains(ms) {
                return ControlPlane.error(.badRequest, "latency_slo_ms: 1...60000")
            }
            let model = body["model"] as? String
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
}
