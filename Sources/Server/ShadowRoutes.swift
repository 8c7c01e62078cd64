import EdgeNode
import Foundation
import Hummingbird

/// `POST /api/v1/models/{name}/shadow` (`{"version": N, "frames": 50, "every_ms": 500}`, 202: the run
/// begins) and `GET /api/v1/models/{name}/shadow` (its figures as they stand): a version judged
/// beside the serving one on the node's own frames before it serves them.
enum ShadowRoutes {
    struct Request: Decodable {
        var version: Int
        var frames: Int?
        var every_ms: Int?

        enum CodingKeys: String, CodingKey, CaseIterable { case version, frames, every_ms }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            version = try c.strict(Int.self, forKey: .version) ?? -1
            frames = try c.strict(Int.self, forKey: .frames)
            every_ms = try c.strict(Int.self, forKey: .every_ms)
        }
    }

    static func add(to router: Router<ControlContext>, service: EdgeService) {
        router.post("/api/v1/models/:name/shadow") { request, context in
            let name = context.parameters.get("name") ?? ""
            let body: Request
            switch await ControlPlane.decodeBody(request, as: Request.self) {
            case .success(let b): body = b
            case .failure(let refusal): return refusal.response
            }
            guard body.version >= 0 else { return ControlPlane.error(.badRequest, "version: missing") }
            do throws(ServiceError) {
                let status = try service.startShadow(
                    model: name, version: body.version, frames: body.frames ?? 50,
                    every: Double(body.every_ms ?? 500) / 1000)
                return ControlPlane.json(status, status: .accepted)
            } catch {
                return ControlPlane.error(error)
            }
        }
        router.get("/api/v1/models/:name/shadow") { _, context in
            let name = context.parameters.get("name") ?? ""
            do throws(ServiceError) {
                return ControlPlane.json(try service.shadow(model: name))
            } catch {
                return ControlPlane.error(error)
            }
        }
    }
}
