import Analytics
import Core
import EdgeNode
import Foundation
import Hummingbird
import Logging
import Monitoring
import NIOCore
import Runtime
import VideoIO
import Vision
import Yams

/// The HTTP control plane of a node: JSON in and out, every error as `{"error": "..."}`.
///
/// - `GET /v2/health/live`: 200 while the process serves (the Open Inference Protocol's path,
///   which Kubernetes probes and NVIDIA's clients use);
/// - `GET /v2/health/ready`: 200 once every configured stream's model is loaded, 503 before;
/// - `GET /api/v1/streams`, `GET /api/v1/streams/{id}`, `POST /api/v1/streams` (a body like a config
///   stream entry; 201 with the stream), `DELETE /api/v1/streams/{id}` (204, once drained).
///
/// 400 for a body that is not JSON, misses `source`, has unknown fields, names a file that does not
/// exist or an id outside `[A-Za-z0-9_-]{1,64}`; 404 for an unknown id; 409 for a duplicate id; 413
/// for a body over 1 MiB.
///
/// Bounded for clients that need no token (`ServerLimits`, the config's `server:` keys): 421 for a
/// `Host` that is not a name of this server; 503 with `Retry-After` when `max_snapshots` snapshots
/// or `max_infer_requests` infer requests are under way, or the event feed's 32 slots are taken;
/// 413 for an `infer` body past what the model's input can need; a connection silent for
/// `idle_timeout_s` (a request's head or body included) closed; past `max_connections`, new ones
/// wait in the listen backlog.
public enum ControlPlane {
    /// The largest request body taken.
    public static let maxBody = 1 << 20

    /// The `/api/v1` routes and their methods (`{}` a path parameter): what the OpenAPI document
    /// describes (a test holds the two together), and what a wrong method is told (405, `Allow`).
    public static let apiRoutes: [(path: String, methods: [String])] = [
        ("/api/v1/streams", ["GET", "POST"]), ("/api/v1/streams/{id}", ["GET", "DELETE"]),
        ("/api/v1/streams/{id}/snapshot.jpg", ["GET"]), ("/api/v1/streams/{id}/analytics", ["GET", "PUT"]),
        ("/api/v1/models", ["GET"]), ("/api/v1/models/{name}/activate", ["POST"]),
        ("/api/v1/models/{name}/rollback", ["POST"]), ("/api/v1/models/{name}/shadow", ["GET", "POST"]),
        ("/api/v1/models/{name}/versions/{version}", ["PUT"]),
        ("/api/v1/batching", ["GET", "PUT"]),
        ("/api/v1/system", ["GET"]), ("/api/v1/sinks", ["GET"]), ("/api/v1/events", ["GET"]),
        ("/api/v1/events/{id}/snapshot.jpg", ["GET"]), ("/api/v1/events/{id}/clip.mp4", ["GET"]),
        ("/api/v1/events/{id}/clip.mov", ["GET"]),
        ("/api/v1/openapi.yaml", ["GET"]),
    ]

    /// The methods `path` takes, when it is one of `apiRoutes`.
    static func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return apiRoutes.first { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == parts.count
                && zip(pattern, parts).allSatisfy { p, x in p.hasPrefix("{") ? !x.isEmpty : p == x }
        }?.methods
    }

    /// The dashboard, one page with no outside dependency (`Sources/Server/Resources/dashboard.html`).
    public static let dashboardPage: String? = Bundle.module.url(forResource: "dashboard", withExtension: "html")
        .flatMap { try? String(contentsOf: $0, encoding: .utf8) }

    /// The OpenAPI 3.1 document of the `/api/v1` routes (`Sources/Server/Resources/openapi.yaml`).
    public static let openAPIDocument: String? = Bundle.module.url(forResource: "openapi", withExtension: "yaml")
        .flatMap { try? String(contentsOf: $0, encoding: .utf8) }

    /// The routes, on `service`.
    public static func router(
        _ service: EdgeService, metrics: MetricsExporter? = nil, sampler: ResourceMonitor? = nil,
        feed: EventFeed? = nil
    ) -> Router<ControlContext> {
        router(service, metrics: metrics, sampler: sampler, feed: feed, guards: RequestGuards(config: service.config))
    }

    /// The routes, on `service`, bounded by `guards`.
    static func router(
        _ service: EdgeService, metrics: MetricsExporter?, sampler: ResourceMonitor?, feed: EventFeed?,
        guards: RequestGuards
    ) -> Router<ControlContext> {
        let router = Router(context: ControlContext.self)
        router.get("/v2/health/live") { _, _ in json(["live": true]) }
        router.get("/") { _, _ in page(dashboardPage, missing: "the dashboard") }
        router.get("/api/v1/openapi.yaml") { _, _ in document(openAPIDocument) }
        router.get("/api/v1/events") { _, context in
            guard let body = await feed?.body(on: context.channel) else {
                var full = error(
                    ServiceError(
                        .unavailable,
                        "the event feed takes \(feed?.clientLimit ?? EventFeed.maxClients) clients at most"))
                full.headers[.retryAfter] = "2"
                return full
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
        RestRoutes.add(to: router, service: service, sampler: sampler)
        let exporter = metrics ?? MetricsExporter()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: exporter.render(sampler: sampler))))
        }
        InferenceProtocol.add(to: router, service: service, admission: guards.inferRequests)
        router.get("/v2/health/ready") { _, _ in
            guard let reason = service.notReadyReason else { return json(["ready": true]) }
            return error(.serviceUnavailable, reason)
        }
        router.get("/api/v1/streams") { _, _ in json(service.streams) }
        router.get("/api/v1/streams/:id/snapshot.jpg") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard StreamSpec.isValidID(id) else { return error(.badRequest, badID(id)) }
            guard let handle = service.handle(id) else { return error(.notFound, "no stream '\(id)'") }
            guard let latest = handle.latest else {
                // The stream is there, its picture not yet: a state of the resource, not of the server.
                var notYet = error(.conflict, "stream '\(id)' has no frame yet")
                notYet.headers[.retryAfter] = "1"
                return notYet
            }
            // Drawn and encoded only when asked, on the blocking executor (never the cooperative pool),
            // `server.max_snapshots` at once.
            return await guards.snapshots.run { await snapshot(latest) }
        }
        EventRoutes.add(to: router, media: service.media, guards: guards)
        router.get("/api/v1/streams/:id/analytics") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard StreamSpec.isValidID(id) else { return error(.badRequest, badID(id)) }
            guard let handle = service.handle(id) else { return error(.notFound, "no stream '\(id)'") }
            return json(handle.analytics)
        }
        router.put("/api/v1/streams/:id/analytics") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard StreamSpec.isValidID(id) else { return error(.badRequest, badID(id)) }
            let body: ByteBuffer
            switch try await collect(request) {
            case .success(let b): body = b
            case .failure(let refusal): return refusal.response
            }
            do {
                let spec = try AnalyticsSpec.fromJSON(Data(body.readableBytesView))
                try service.replaceAnalytics(id, with: spec)
                guard let handle = service.handle(id) else { return error(.notFound, "no stream '\(id)'") }
                return json(handle.analytics)
            } catch let problem as ConfigError {
                return error(.badRequest, bodyProblem(problem))
            } catch {
                return self.error(error)
            }
        }
        router.get("/api/v1/streams/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard StreamSpec.isValidID(id) else { return error(.badRequest, badID(id)) }
            guard let info = service.stream(id) else { return error(.notFound, "no stream '\(id)'") }
            return json(info)
        }
        router.post("/api/v1/streams") { request, _ in
            let body: ByteBuffer
            switch try await collect(request) {
            case .success(let b): body = b
            case .failure(let refusal): return refusal.response
            }
            let spec: StreamSpec
            do {
                spec = try parseStream(String(buffer: body), repository: service.config.repository)
            } catch let e as ConfigError {
                return error(.badRequest, bodyProblem(e))
            }
            // Over HTTP nothing is loaded from outside the repository: a model there, or one the
            // config already serves (the config is the operator's; a request is not).
            guard service.mayLoadOverHTTP(spec.modelPath) else {
                return error(
                    .badRequest,
                    "model: '\(spec.model.prefix(200))' is neither a model of the repository nor one this node serves")
            }
            do {
                let info = try await service.add(spec)
                var response = json(info, status: .created)
                response.headers[.location] = "/api/v1/streams/\(info.id)"
                return response
            } catch let e {
                return error(e)
            }
        }
        router.delete("/api/v1/streams/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard StreamSpec.isValidID(id) else { return error(.badRequest, badID(id)) }
            do {
                if try await service.remove(id) { return Response(status: .noContent) }
                // Accepted: gone from view; it goes on draining behind (frames in flight, its events
                // file), its id taken until then.
                var accepted = json(["id": id, "state": "stopping"], status: .accepted)
                accepted.headers[.retryAfter] = "2"
                return accepted
            } catch let e {
                return error(e)
            }
        }
        return router
    }

    /// The control plane's responder: the routes, with any error (an unknown path, a method not
    /// allowed, a failure) answered as JSON, and requests naming another host refused.
    public static func responder(
        _ service: EdgeService, metrics: MetricsExporter? = nil, sampler: ResourceMonitor? = nil,
        feed: EventFeed? = nil, token: String? = nil
    ) -> some HTTPResponder<ControlContext> {
        responder(
            service, metrics: metrics, sampler: sampler, feed: feed, token: token,
            guards: RequestGuards(config: service.config))
    }

    static func responder(
        _ service: EdgeService, metrics: MetricsExporter?, sampler: ResourceMonitor?, feed: EventFeed?,
        token: String?, guards: RequestGuards
    ) -> some HTTPResponder<ControlContext> {
        JSONErrors(
            inner: router(service, metrics: metrics, sampler: sampler, feed: feed, guards: guards).buildResponder(),
            token: token, hosts: guards.hosts)
    }

    /// The latest frame with its detections drawn, as JPEG.
    static func snapshot(_ latest: (frame: VideoFrame, detections: [Detection])) async -> Response {
        do {
            let bytes = try await BlockingExecutor.shared.run { () throws(VideoError) in
                var pixels = latest.frame.pixels
                let (width, height) = (latest.frame.width, latest.frame.height)
                Annotator().draw(latest.detections, on: &pixels, width: width, height: height)
                return try JPEGEncoder.encode(rgb: pixels, width: width, height: height)
            }
            return Response(
                status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        } catch let failure {
            return error(.internalServerError, "\(failure)")
        }
    }

    /// A request's body, at most `maxBody` bytes (413 past that); other failures (the client went)
    /// are thrown.
    static func collect(_ request: Request) async throws -> Result<ByteBuffer, BodyRefusal> {
        var request = request
        do {
            return .success(try await request.collectBody(upTo: maxBody))
        } catch is NIOTooManyBytesError {
            return .failure(tooLarge)
        }
    }

    static let tooLarge = BodyRefusal(.contentTooLarge, "request body over \(maxBody) bytes")

    /// A body's problem in one line: the key, then what is wrong.
    static func bodyProblem(_ e: ConfigError) -> String { e.key.map { "\($0): \(e.message)" } ?? e.message }

    /// A request body as a stream entry, checked as a config entry is.
    static func parseStream(_ text: String, repository: String?) throws(ConfigError) -> StreamSpec {
        try StreamSpec.fromJSON(text, repository: repository)
    }

    static func badID(_ id: String) -> String {
        "'\(id.prefix(80))' is not a valid id: use 1 to 64 of A-Z a-z 0-9 _ -"
    }

    /// A request body (at most `maxBody` bytes, 413 past that) decoded as `T`, or the refusal: 400
    /// with one line naming the key path for a body that is not a `T` (see `RequestDecoding`).
    static func decodeBody<T: Decodable>(_ request: Request, as type: T.Type) async -> Result<T, BodyRefusal> {
        let body: ByteBuffer
        switch (try? await collect(request)) ?? .failure(tooLarge) {
        case .success(let b): body = b
        case .failure(let refusal): return .failure(refusal)
        }
        return RequestDecoding.decode(
            T.self, from: Data(body.readableBytesView), notAnObject: "the body must be a JSON object")
    }

    /// The HTTP status of `error`, from its code: the one mapping from error codes to statuses.
    static func status(of error: any Error) -> HTTPResponse.Status {
        switch ErrorCode.of(error) {
        case .invalid: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable: .serviceUnavailable
        case .noSpace: .init(code: 507, reasonPhrase: "Insufficient Storage")
        default: .internalServerError
        }
    }

    /// `error` answered with its status and its one-line message.
    static func error(_ error: any Error) -> Response {
        self.error(status(of: error), (error as? ServiceError)?.message ?? "\(error)")
    }

    /// A page of the bundle (the dashboard, the fleet's): one file, inline script and style only.
    static func page(_ html: String?, missing what: String) -> Response {
        guard let html else { return error(.internalServerError, "\(what) is missing") }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .contentSecurityPolicy:
                    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// An OpenAPI document of the bundle, as YAML.
    static func document(_ text: String?) -> Response {
        guard let text else { return error(.internalServerError, "the OpenAPI document is missing") }
        return Response(
            status: .ok, headers: [.contentType: "application/yaml"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }
}

/// Answers every error as `{"error": "..."}` with its status; refuses a request whose `Host` is not
/// a name of this server (421, see `HostCheck`); and, with a token, refuses every
/// mutating request (POST, PUT, PATCH, DELETE; `infer` and the repository index, which change
/// nothing, excepted) without `Authorization: Bearer <token>`: 401, the token compared in constant time.
struct JSONErrors<Inner: HTTPResponder<ControlContext>>: HTTPResponder {
    typealias Context = ControlContext
    let inner: Inner
    let token: String?
    /// Nil: any `Host` (a Unix socket's server, which no browser reaches).
    let hosts: HostCheck?

    static func readOnly(_ path: String) -> Bool {
        path.hasSuffix("/infer") || path == "/v2/repository/index"
    }

    /// Equal, in a time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        if let hosts, !hosts.allows(request.head.authority) { return hosts.refusal(request.head.authority ?? "") }
        if let token, [.post, .put, .patch, .delete].contains(request.method), !Self.readOnly(request.uri.path) {
            let given = request.headers[.authorization] ?? ""
            guard given.hasPrefix("Bearer "), Self.same(String(given.dropFirst(7)), token) else {
                var refusal = ControlPlane.error(
                    .unauthorized, given.isEmpty ? "this route needs Authorization: Bearer <token>" : "wrong token")
                refusal.headers[.wwwAuthenticate] = "Bearer"
                return refusal
            }
        }
        do {
            let response = try await inner.respond(to: request, context: context)
            // A known path asked with a method it does not take.
            if response.status == .notFound, response.headers[.contentType] == nil,
                let allowed = ControlPlane.methods(for: request.uri.path),
                !allowed.contains(request.method.rawValue)
            {
                var refusal = ControlPlane.error(
                    .methodNotAllowed, "\(request.method.rawValue) is not a method of \(request.uri.path)")
                refusal.headers[.allow] = allowed.joined(separator: ", ")
                return refusal
            }
            // The router's own refusals (no such path) come without a body: give them one.
            if response.status.code >= 400 && response.headers[.contentType] == nil {
                return ControlPlane.error(response.status, response.status.reasonPhrase.lowercased())
            }
            return response
        } catch let e as HTTPError {
            return ControlPlane.error(e.status, e.body ?? e.status.reasonPhrase.lowercased())
        } catch is NIOTooManyBytesError {
            return ControlPlane.error(.contentTooLarge, "request body over \(ControlPlane.maxBody) bytes")
        } catch let e as any HTTPResponseError {
            return ControlPlane.error(e.status, e.status.reasonPhrase.lowercased())
        } catch {
            return ControlPlane.error(.internalServerError, "\(error)")
        }
    }
}
