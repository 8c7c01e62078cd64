import Foundation
import TestSupport
import Testing

/// One events file: its lines, each a complete JSON object.
struct EventsFile {
    var frames: [Int]
    var streams: Set<String>
    var dropped: Int
    var times: [Double]
    var complete: Bool

    init(_ path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        complete = text.isEmpty || text.hasSuffix("\n")
        frames = []
        streams = []
        dropped = 0
        times = []
        for line in text.split(separator: "\n") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let frame = object["frame"] as? Int
            else { throw ServeProcessError(message: "\(path): not an event line: \(line.prefix(80))") }
            // A shed line may stand for a run of frames (`through`: the last of them).
            let last = object["through"] as? Int ?? frame
            frames += Array(frame...max(frame, last))
            streams.insert(object["stream"] as? String ?? "?")
            if object["dropped"] != nil { dropped += last - frame + 1 }
            if let t = object["time"] as? Double { times += Array(repeating: t, count: last - frame + 1) }
        }
    }

    /// 0, 1, 2... with nothing lost or repeated.
    var contiguous: Bool { frames == Array(0..<frames.count) }
}

@Suite("batchline serve", .serialized)
struct ServeTests {
    static func config(events: String, streams: String, allowFolder: String? = nil) -> String {
        """
        server: { host: 127.0.0.1, port: 8080 }
        models: { repository: models }
        output: { events: \(events) }
        batching: { policy: realtime, sizes: [1, 2, 4, 8] }
        sources: { timeout_s: 3\(allowFolder.map { ", allow_folders: [\($0)]" } ?? "") }
        streams:
        \(streams)
        """
    }

    @Test(
        "Streams come and go: two looping real-time streams, a third added over HTTP, one removed; every events file contiguous and complete; bad requests refused; SIGTERM under load exits 0"
    )
    func streamsComeAndGo() async throws {
        let dir = TestAssets.temporaryDirectory("serve-events")
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = TestAssets.video
        let serve = try ServeProcess(
            config: Self.config(
                events: dir.path,
                streams: """
                      - { id: entrance, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                      - { id: lobby, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                    """,
                // Files added over HTTP may be in the test's folder (sources.allow_folders).
                allowFolder: dir.path))
        let live = try await serve.request("GET", "/v2/health/live")
        #expect(live.status == 200)
        let ready = try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }
        #expect(ready.status == 200, "never ready: \(serve.stderr)")
        let listed = try await serve.poll("/api/v1/streams", timeout: 60) { reply in
            (reply.array ?? []).allSatisfy { ($0["frames"] as? Int ?? 0) >= 10 }
        }
        let streams = try #require(listed.array)
        #expect(streams.map { $0["id"] as? String } == ["entrance", "lobby"])
        for s in streams {
            #expect(s["state"] as? String == "running")
            for key in [
                "id", "source", "model", "state", "frames", "fps", "lag_ms", "dropped", "reconnects", "last_error",
            ] {
                #expect(s[key] != nil, "stream object without \(key): \(s)")
            }
        }

        // A third stream over HTTP: a file run as fast as it goes (load), looping.
        let added = try await serve.request(
            "POST", "/api/v1/streams",
            json: ["id": "dock", "source": video, "model": "pedestrian-ssdlite", "loop": true])
        #expect(added.status == 201, "\(added.error ?? "")")
        #expect(added.object?["id"] as? String == "dock")
        let one = try await serve.poll("/api/v1/streams/dock", timeout: 60) { ($0.object?["frames"] as? Int ?? 0) > 20 }
        #expect(one.object?["state"] as? String == "running", "\(one.object ?? [:])")

        // Bad requests, each with its status and message.
        let bad: [(body: String, status: Int, error: String)] = [
            ("not json", 400, "not JSON"),
            ("{\"id\": \"x\", \"model\": \"pedestrian-ssdlite\"}", 400, "source: missing"),
            (
                "{\"id\": \"x\", \"source\": \"\(video)\", \"model\": \"pedestrian-ssdlite\", \"fps\": 5}", 400,
                "fps: unknown key"
            ),
            (
                "{\"id\": \"x\", \"source\": \"nonexistent.mp4\", \"model\": \"pedestrian-ssdlite\"}", 400,
                "source: no such file"
            ),
            (
                "{\"id\": \"a/b\", \"source\": \"\(video)\", \"model\": \"pedestrian-ssdlite\"}", 400,
                "id: 'a/b' is not a valid id"
            ),
            (
                "{\"id\": \"lobby\", \"source\": \"\(video)\", \"model\": \"pedestrian-ssdlite\"}", 409,
                "a stream 'lobby' exists already"
            ),
            ("[1, 2]", 400, "must be a JSON object"),
        ]
        for b in bad {
            let reply = try await serve.request("POST", "/api/v1/streams", body: Data(b.body.utf8))
            #expect(reply.status == b.status, "\(b.body): \(reply.status)")
            #expect(reply.error?.hasPrefix(b.error) == true, "\(b.body): \(reply.error ?? "no error")")
        }
        // Nothing is loaded over HTTP from outside the repository.
        let outside = dir.appendingPathComponent("elsewhere")
        try FileManager.default.copyItem(
            at: TestAssets.root.appendingPathComponent("models/ppocr-cls/1"), to: outside)
        let foreign = try await serve.request(
            "POST", "/api/v1/streams", json: ["id": "foreign", "source": video, "model": outside.path])
        #expect(
            foreign.status == 400 && foreign.error?.contains("neither a model of the repository") == true,
            "\(foreign.error ?? "")")
        let huge = try await serve.request(
            "POST", "/api/v1/streams", body: Data(repeating: 0x20, count: (1 << 20) + 10))
        #expect(huge.status == 413 && huge.error != nil)
        let unknown = try await serve.request("GET", "/api/v1/streams/nobody")
        #expect(unknown.status == 404 && unknown.error == "no stream 'nobody'")
        let unknownDelete = try await serve.request("DELETE", "/api/v1/streams/nobody")
        #expect(unknownDelete.status == 404)
        // A camera that is not up yet is accepted and retried.
        let camera = try await serve.request(
            "POST", "/api/v1/streams",
            json: ["id": "gate", "source": "rtsp://127.0.0.1:\(closedPort())/cam", "model": "pedestrian-ssdlite"])
        #expect(camera.status == 201)
        let retrying = try await serve.poll("/api/v1/streams/gate", timeout: 60) { $0.object?["last_error"] is String }
        #expect(["connecting", "reconnecting"].contains(retrying.object?["state"] as? String ?? ""))
        #expect((retrying.object?["last_error"] as? String)?.contains("refused") == true, "\(retrying.object ?? [:])")

        // A file that is not video is accepted (it exists) and fails at once, with the reason.
        let notVideo = dir.appendingPathComponent("notes.mp4")
        try Data("not a video".utf8).write(to: notVideo)
        let broken = try await serve.request(
            "POST", "/api/v1/streams", json: ["id": "notes", "source": notVideo.path, "model": "pedestrian-ssdlite"])
        #expect(broken.status == 201)
        let failed = try await serve.poll("/api/v1/streams/notes", timeout: 60) {
            $0.object?["state"] as? String == "failed"
        }
        #expect(failed.object?["state"] as? String == "failed", "\(failed.object ?? [:])")
        #expect((failed.object?["last_error"] as? String)?.contains("not a video") == true, "\(failed.object ?? [:])")

        // One removed: 204 once drained, its events file complete.
        let removed = try await serve.request("DELETE", "/api/v1/streams/lobby")
        #expect(removed.status == 204)
        let lobby = try EventsFile(dir.appendingPathComponent("lobby.jsonl").path)
        #expect(lobby.complete && lobby.contiguous && lobby.frames.count > 10, "lobby: \(lobby.frames.count) frames")
        #expect(lobby.streams == ["lobby"] && lobby.times.count == lobby.frames.count)
        #expect(try await serve.request("GET", "/api/v1/streams/lobby").status == 404)
        try await Task.sleep(for: .seconds(1))

        // SIGTERM under load (dock runs flat out): exit 0, every events file complete. How long it
        // takes: timing is a benchmark (bench/serve.sh), not a test.
        let (status, seconds) = serve.stop(signal: SIGTERM)
        #expect(status == 0, "exit status \(String(describing: status)): \(serve.stderr.suffix(2000))")
        print("serve stopped in \(String(format: "%.2f", seconds)) s after SIGTERM")
        for id in ["entrance", "dock", "gate"] {
            let file = try EventsFile(dir.appendingPathComponent("\(id).jsonl").path)
            #expect(file.complete && file.contiguous, "\(id): complete \(file.complete), \(file.frames.count) frames")
            print("\(id): \(file.frames.count) events, \(file.dropped) shed")
        }
        let entrance = try EventsFile(dir.appendingPathComponent("entrance.jsonl").path)
        #expect(entrance.frames.count > 20)
        // The batch size manager heard each join and leave.
        let log = serve.stderr
        for note in ["stream entrance joined", "stream dock joined", "stream lobby left", "stream dock left"] {
            #expect(log.contains("batch size manager: \(note)"), "no '\(note)' in the log")
        }
    }
}

@Suite("Live cameras", .serialized)
struct CameraTests {
    @Test(
        "A real RTSP camera killed for 5 s and restarted: running -> reconnecting -> running, reconnects 1, frames resume, the file stream undisturbed; one that never returns stays reconnecting with its error"
    )
    func cameraDropsAndReturns() async throws {
        let dir = TestAssets.temporaryDirectory("serve-camera")
        defer { try? FileManager.default.removeItem(at: dir) }
        let camera = try RTSPCamera(file: TestAssets.video)
        let video = TestAssets.video
        let serve = try ServeProcess(
            config: ServeTests.config(
                events: dir.path,
                streams: """
                      - { id: door, source: "\(camera.url)", model: pedestrian-ssdlite }
                      - { id: hall, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                    """))
        func stream(_ id: String) async throws -> [String: Any] {
            try await serve.request("GET", "/api/v1/streams/\(id)").object ?? [:]
        }
        func hallFPS(over seconds: Double) async throws -> Double {
            let a = try await stream("hall")["frames"] as? Int ?? 0
            try await Task.sleep(for: .seconds(seconds))
            let b = try await stream("hall")["frames"] as? Int ?? 0
            return Double(b - a) / seconds
        }
        let up: HTTPReply
        do {
            up = try await serve.poll("/api/v1/streams/door", timeout: 60) { ($0.object?["frames"] as? Int ?? 0) > 20 }
        } catch {
            Issue.record("serve went away: \(error); running \(serve.isRunning); \(serve.stderr.suffix(3000))")
            return
        }
        #expect(up.object?["state"] as? String == "running", "camera never ran: \(up.object ?? [:])")
        let before = try await hallFPS(over: 2)
        let hallAtKill = try await stream("hall")
        let killedAt = Date()

        // The camera loses power for 5 s.
        camera.kill()
        let down = try await serve.poll("/api/v1/streams/door", timeout: 60) {
            $0.object?["state"] as? String == "reconnecting"
        }
        #expect(down.object?["state"] as? String == "reconnecting", "\(down.object ?? [:])")
        let framesAtDrop = down.object?["frames"] as? Int ?? 0
        let during = try await hallFPS(over: 3)
        try await Task.sleep(for: .seconds(2))
        try camera.start()
        let back = try await serve.poll("/api/v1/streams/door", timeout: 40) { reply in
            reply.object?["state"] as? String == "running" && (reply.object?["frames"] as? Int ?? 0) > framesAtDrop + 10
        }
        #expect(back.object?["state"] as? String == "running", "did not come back: \(back.object ?? [:])")
        #expect(back.object?["reconnects"] as? Int == 1)
        #expect(back.object?["last_error"] is String, "the drop's error is kept")
        #expect((back.object?["frames"] as? Int ?? 0) > framesAtDrop + 10, "frames did not resume")
        let after = try await hallFPS(over: 2)
        let hallNow = try await stream("hall")
        let span = Date().timeIntervalSince(killedAt)
        let through = Double((hallNow["frames"] as? Int ?? 0) - (hallAtKill["frames"] as? Int ?? 0)) / span
        print(
            "hall fps: \(String(format: "%.1f", before)) before, \(String(format: "%.1f", during)) while the camera was down, \(String(format: "%.1f", after)) after, \(String(format: "%.2f", through)) over the \(String(format: "%.0f", span)) s from the drop to now; door reconnects \(back.object?["reconnects"] ?? "?")"
        )
        // The file stream is undisturbed by the camera's drop and return: still running, its frames
        // still coming, and every one of them written or shed in order (its events file, below). Its
        // rate and what a loaded machine makes it shed: timing is a benchmark (bench/serve.sh), not a test.
        #expect(hallNow["state"] as? String == "running", "\(hallNow)")
        let hallFrames = (at: hallAtKill["frames"] as? Int ?? 0, now: hallNow["frames"] as? Int ?? 0)
        #expect(hallFrames.now > hallFrames.at, "hall: \(hallFrames.at) frames at the drop, \(hallFrames.now) now")

        // Killed for good: it stays reconnecting, with its error, for as long as it is configured.
        camera.kill()
        let gone = try await serve.poll("/api/v1/streams/door", timeout: 60) {
            $0.object?["state"] as? String == "reconnecting"
        }
        try await Task.sleep(for: .seconds(4))
        let still = try await stream("door")
        #expect(gone.object?["state"] as? String == "reconnecting" && still["state"] as? String == "reconnecting")
        #expect((still["last_error"] as? String)?.isEmpty == false)
        let (status, _) = serve.stop()
        #expect(status == 0)
        let events = try EventsFile(dir.appendingPathComponent("door.jsonl").path)
        #expect(events.complete && events.contiguous, "door: frames continue across the reconnect, in order")
        let hall = try EventsFile(dir.appendingPathComponent("hall.jsonl").path)
        #expect(hall.complete && hall.contiguous, "hall: every frame written or shed, once, in order")
        #expect(serve.stderr.contains("source reconnected"))
    }

    @Test("run on an RTSP camera that drops for good retries until --timeout, then exits 1 with one line")
    func runGivesUp() throws {
        let camera = try RTSPCamera(file: TestAssets.video)
        let url = camera.url
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("events.jsonl").path
        // The camera dies once frames flow (however long the model takes to load), for good.
        let killer = Thread {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let text = (try? String(contentsOfFile: events, encoding: .utf8)) ?? ""
                if text.split(separator: "\n").count >= 5 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            camera.kill()
        }
        killer.start()
        let result = try runBatchline(
            ["run", "--source", url, "--model", TestAssets.detector, "--timeout", "3", "--events", events],
            timeout: 120)
        #expect(result.status == 1, "status \(result.status): \(result.stderr)")
        let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("batchline: error: \(url): camera lost: no frames for"), "\(last)")
        #expect(result.stdout.contains("frames"), "the summary of what was processed is printed")
    }
}
