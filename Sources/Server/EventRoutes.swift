import Core
import Foundation
import Hummingbird
import NIOCore
import Runtime
import VideoIO

/// What a node kept of each analytics event: `GET /api/v1/events/{id}/snapshot.jpg`, and
/// `GET /api/v1/events/{id}/clip.mp4` (or `clip.mov`, for a codec MP4 does not hold). Files are read
/// on the blocking executor, never the cooperative pool; clips `server.max_snapshots` at once.
enum EventRoutes {
    static func add(to router: Router<ControlContext>, media: EventMedia, guards: RequestGuards) {
        router.get("/api/v1/events/:id/snapshot.jpg") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard EventSnapshots.isValidID(id) else { return badID(id) }
            let snapshots = media.snapshots
            guard let jpeg = await BlockingExecutor.shared.run({ snapshots?.jpeg(id) }) else {
                return ControlPlane.error(.notFound, "no snapshot of event '\(id)' (none taken, or evicted)")
            }
            return Response(
                status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "max-age=86400, immutable"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: jpeg)))
        }
        for container in ClipContainer.allCases {
            router.get("/api/v1/events/:id/clip.\(container.rawValue)") { _, context in
                let id = context.parameters.get("id") ?? ""
                guard EventSnapshots.isValidID(id) else { return badID(id) }
                guard let clips = media.clips else {
                    return ControlPlane.error(.notFound, "this node keeps no clips (output.clips)")
                }
                // A clip may be megabytes: read whole, `server.max_snapshots` at once.
                return await guards.snapshots.run {
                    clip(await BlockingExecutor.shared.run { clips.clip(id, container: container) }, id: id)
                }
            }
        }
    }

    private static func clip(_ found: EventClips.Lookup, id: String) -> Response {
        switch found {
        case .ready(let data, let container):
            return Response(
                status: .ok,
                headers: [.contentType: container.contentType, .cacheControl: "max-age=86400, immutable"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        case .elsewhere(let container):
            // A browser or `curl -L` follows it.
            var moved = ControlPlane.error(
                .seeOther,
                "the clip of event '\(id)' is \(container.rawValue): /api/v1/events/\(id)/clip.\(container.rawValue)")
            moved.headers[.location] = "/api/v1/events/\(id)/clip.\(container.rawValue)"
            return moved
        case .recording:
            // The event is known; its clip ends post_s after it.
            var notYet = ControlPlane.error(.conflict, "the clip of event '\(id)' is being recorded")
            notYet.headers[.retryAfter] = "2"
            return notYet
        case .none:
            return ControlPlane.error(.notFound, "no clip of event '\(id)' (its stream records none, or evicted)")
        }
    }

    private static func badID(_ id: String) -> Response {
        ControlPlane.error(.badRequest, "'\(id.prefix(80))' is not an event id")
    }
}
