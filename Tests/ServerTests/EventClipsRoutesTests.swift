import EdgeNode
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Runtime
import TestSupport
import Testing
import VideoIO

@testable import Server

/// Clips of a stream's events through the node, in process, on the real detector and vtest.avi.
@Suite("Event clips served")
struct EventClipsRoutesTests {
    @Test(
        "A stream added with record: {pre_s, post_s} keeps a clip of each event: GET clip.mov plays from pre_s before the event, its first picture the source's; clip.mp4 redirects to it; record without analytics is a 400"
    )
    func clipsOfEvents() async throws {
        let dir = TestAssets.temporaryDirectory("clips-served")
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            models: { repository: \(TestAssets.root.appendingPathComponent("models").path) }
            output: { events: \(dir.path), clips: \(dir.path)/clips, snapshots: \(dir.path)/snapshots, flush_s: 0.2 }
            batching: { policy: realtime, sizes: [1, 2, 4] }
            sources: { timeout_s: 3 }
            """
        let config = try ServiceConfig.parse(yaml: yaml, file: "clips.yaml")
        let logger = Logger(label: "test")
        let service = EdgeService(config: config, logger: logger, media: try Serve.eventMedia(config, logger: logger))
        try await service.start()
        let app = Application(responder: ControlPlane.responder(service))
        let video = TestAssets.video
        let (pre, post) = (2.0, 1.0)
        try await app.test(.router) { client in
            let refused = try await client.execute(
                uri: "/api/v1/streams", method: .post,
                body: ByteBuffer(
                    string: #"{"source":"\#(video)","model":"pedestrian-ssdlite","track":true,"record":{"pre_s":1}}"#))
            #expect(refused.status == .badRequest && String(buffer: refused.body).contains("record: needs analytics"))

            // The whole file once, as fast as it goes; someone crosses the middle within it.
            let body = """
                {"id":"gate","source":"\(video)","model":"pedestrian-ssdlite","track":true,"record":{"pre_s":\(pre),"post_s":\(post)},
                 "analytics":{"lines":[{"name":"mid","from":[384,150],"to":[384,576]}]}}
                """
            let added = try await client.execute(uri: "/api/v1/streams", method: .post, body: ByteBuffer(string: body))
            #expect(added.status == .created, "\(String(buffer: added.body))")
            let handle = try #require(service.handle("gate"))
            let deadline = Date().addingTimeInterval(300)
            while !handle.isComplete, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
            try #require(handle.isComplete, "the file was not read through")

            // The first event at least pre_s into the video.
            let text = try String(contentsOf: dir.appendingPathComponent("gate.jsonl"), encoding: .utf8)
            let frames = text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            let hit = try #require(
                frames.first { ($0["pts"] as? Double ?? 0) >= pre + 0.5 && !($0["events"] as? [Any] ?? []).isEmpty },
                "no event in the file")
            let at = try #require(hit["pts"] as? Double)
            let id = try #require((hit["events"] as? [[String: Any]])?.first?["id"] as? String)

            // vtest.avi is MS-MPEG4, which MP4 does not hold: its clips are QuickTime.
            let asMP4 = try await client.execute(uri: "/api/v1/events/\(id)/clip.mp4", method: .get)
            #expect(asMP4.status == .seeOther && asMP4.headers[.location] == "/api/v1/events/\(id)/clip.mov")
            var reply = try await client.execute(uri: "/api/v1/events/\(id)/clip.mov", method: .get)
            while reply.status == .conflict, Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
                reply = try await client.execute(uri: "/api/v1/events/\(id)/clip.mov", method: .get)
            }
            #expect(reply.status == .ok && reply.headers[.contentType] == "video/quicktime", "\(reply.status)")
            let clip = dir.appendingPathComponent("got.mov")
            try Data(reply.body.readableBytesView).write(to: clip)

            // Its first picture is the source's at pre_s before the event (the frame at or before).
            let source = try VideoDecoder(input: video)
            var expected: VideoFrame?
            while let frame = try source.nextFrame(), frame.pts <= at - pre + 1e-6 { expected = frame }
            let shown = try VideoDecoder(input: clip.path)
            let first = try #require(try shown.nextFrame())
            var count = 1
            while try shown.nextFrame() != nil { count += 1 }
            let want = try #require(expected)
            #expect(abs(want.pts - (at - pre)) < 0.11 && abs(first.pts) < 1e-6)
            #expect(first.pixels == want.pixels, "the clip's first picture is not the source's at \(want.pts) s")
            // 10 frames a second, from at - pre to at + post.
            #expect((30...33).contains(count), "\(count) frames")

            #expect(try await client.execute(uri: "/api/v1/events/nobody-1/clip.mov", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/events/..%2Fx/clip.mp4", method: .get).status == .badRequest)
        }
        await service.shutdown()
    }
}
