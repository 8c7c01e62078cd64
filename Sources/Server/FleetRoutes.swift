import Fleet
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The fleet's API (`batchline fleet`): nodes, cameras and what the fleet did, health. Mutating
/// routes take the fleet's bearer token (`JSONErrors`, as a node's do); bodies are read up to
/// `CameraRequest.maxBytes` and checked as untrusted input; every error is one line of JSON.
public enum FleetRoutes {
    /// Every route of the fleet's API with its methods (what its OpenAPI document must list).
    public static let apiRoutes: [(path: String, methods: [String])] = [
        ("/api/v1/fleet/nodes", ["GET"]), ("/api/v1/fleet/cameras", ["GET", "POST"]),
        ("/api/v1/fleet/cameras/{id}", ["GET", "PATCH", "DELETE"]), ("/api/v1/fleet/log", ["GET"]),
        ("/api/v1/openapi.yaml", ["GET"]), ("/api/v1/fleet/rollouts", ["GET", "POST"]),
        ("/api/v1/fleet/rollouts/{id}", ["GET"]), ("/api/v1/fleet/rollouts/{id}/abort", ["POST"]),
        ("/api/v1/fleet/models", ["GET"]), ("/api/v1/fleet/models/{name}/versions/{version}", ["PUT"]),
    ]

    /// The OpenAPI 3.1 document of the fleet's routes (`Sources/Server/Resources/fleet-openapi.yaml`).
    public static let openAPIDocument: String? = Bundle.module.url(
        forResource: "fleet-openapi", withExtension: "yaml"
    ).flatMap { try? String(contentsOf: $0, encoding: .utf8) }

    /// The fleet's page, one file with no outside dependency (`Sources/Server/Resources/fleet.html`).
    static let page: String? = Bundle.module.url(forResource: "fleet", withExtension: "html")
        .flatMap { try? String(contentsOf: $0, encoding: .utf8) }

    static func router(_ fleet: FleetService) -> Router<ControlContext> {
        let router = Router(context: ControlContext.self)
        router.get("/") { _, _ in ControlPlane.page(page, missing: "the fleet's page") }
        router.get("/api/v1/openapi.yaml") { _, _ in ControlPlane.document(openAPIDocument) }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: FleetMetrics.render(fleet))))
        }
        router.get("/v2/health/live") { _, _ in ControlPlane.json(["live": true]) }
        router.get("/v2/health/ready") { _, _ in
            fleet.ready
                ? ControlPlane.json(["ready": true])
                : ControlPlane.error(.serviceUnavailable, "the fleet's state cannot be read")
        }
        router.get("/api/v1/fleet/nodes") { _, _ in ControlPlane.json(fleet.nodeViews()) }
        router.get("/api/v1/fleet/log") { _, _ in ControlPlane.json(fleet.log()) }
        router.get("/api/v1/fleet/cameras") { _, _ in answer { () throws(FleetError) in try fleet.cameraViews() } }
        router.post("/api/v1/fleet/cameras") { request, _ in
            switch await body(request) {
            case .failure(let refusal): return refusal.response
            case .success(let data):
                return answer(status: .created) { () throws(FleetError) in try fleet.addCamera(json: data) }
            }
        }
        router.get("/api/v1/fleet/cameras/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            return answer { () throws(FleetError) in try fleet.cameraView(id) }
        }
        router.patch("/api/v1/fleet/cameras/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            switch await body(request) {
            case .failure(let refusal): return refusal.response
            case .success(let data):
                return answer { () throws(FleetError) in try fleet.moveCamera(id, json: data) }
            }
        }
        router.get("/api/v1/fleet/rollouts") { _, _ in answer { () throws(FleetError) in try fleet.rollouts() } }
        router.post("/api/v1/fleet/rollouts") { request, _ in
            switch await body(request) {
            case .failure(let refusal): return refusal.response
            case .success(let data):
                return answer(status: .created) { () throws(FleetError) in try fleet.startRollout(json: data) }
            }
        }
        router.get("/api/v1/fleet/rollouts/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            return answer { () throws(FleetError) in try fleet.rollout(id) }
        }
        router.post("/api/v1/fleet/rollouts/:id/abort") { _, context in
            let id = context.parameters.get("id") ?? ""
            do throws(FleetError) {
                return ControlPlane.json(try await fleet.abortRollout(id))
            } catch {
                return failure(error)
            }
        }
        // The versions rollouts take (`models.repository`), and one uploaded there (token only).
        router.get("/api/v1/fleet/models") { _, _ in ControlPlane.json(await fleet.repositoryModels()) }
        let uploads = VersionUploads(root: fleet.config.repository, guarded: fleet.config.tokenFile != nil)
        router.put("/api/v1/fleet/models/:name/versions/:version") { request, context in
            let received = await uploads.receive(
                request, name: context.parameters.get("name") ?? "", version: context.parameters.get("version") ?? "")
            if let (model, version) = received.added { fleet.note(.notice, "\(model) version \(version) uploaded") }
            return received.response
        }
        router.delete("/api/v1/fleet/cameras/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            do throws(FleetError) {
                try fleet.removeCamera(id)
                return Response(status: .noContent)
            } catch {
                return failure(error)
            }
        }
        return router
    }

    /// A request's body, at most `CameraRequest.maxBytes` (413 past that).
    static func body(_ request: Request) async -> Result<Data, BodyRefusal> {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: CameraRequest.maxBytes)
            return .success(Data(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            return .failure(BodyRefusal(.contentTooLarge, "request body over \(CameraRequest.maxBytes) bytes"))
        } catch {
            return .failure(BodyRefusal(.badRequest, "the body could not be read"))
        }
    }

    static func answer<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () throws(FleetError) -> T)
        -> Response
    {
        do throws(FleetError) {
            return ControlPlane.json(try body(), status: status)
        } catch {
            return failure(error)
        }
    }

    /// The one mapping of the fleet's errors to HTTP statuses.
    static func failure(_ error: FleetError) -> Response {
        let status: HTTPResponse.Status =
            switch error.code {
            case .invalid: .badRequest
            case .notFound: .notFound
            case .exists: .conflict
            case .full: .conflict
            case .unavailable, .state: .serviceUnavailable
            }
        return ControlPlane.error(status, error.message)
    }
}
