import Foundation
import TestSupport
import Testing

/// A stream that offers far more than its share beside real-time cameras.
@Suite("A fast stream beside cameras", .serialized)
struct FairnessTests {
    /// Each line's frames (a shed line may stand for a run: `through`), and the line count.
    static func read(_ path: String) throws -> (frames: [Int], lines: Int, shed: Int) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var frames: [Int] = []
        var shed = 0
        let lines = text.split(separator: "\n")
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let first = try #require(object["frame"] as? Int)
            let last = object["through"] as? Int ?? first
            frames += Array(first...last)
            if object["dropped"] != nil { shed += last - first + 1 }
        }
        return (frames, lines.count, shed)
    }

    @Test(
        "A 1000 fps stream beside two 10 fps cameras: it sheds, its shed runs take one line each, every file accounts for every frame, in order"
    )
    func fastStream() async throws {
        let dir = TestAssets.temporaryDirectory("fair")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fast = dir.appendingPathComponent("fast.avi").path
        let made = try runProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"),
            [
                "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=1000", "-t", "3", "-c:v", "mpeg4",
                "-q:v", "8", fast,
            ], timeout: 120)
        try #require(made.status == 0, "\(made.stderr)")
        let events = dir.appendingPathComponent("events").path
        let video = TestAssets.video
        let serve = try ServeProcess(
            config: ServeTests.config(
                events: events,
                streams: """
                      - { id: cam1, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                      - { id: cam2, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                      - { id: fast, source: \(fast), model: pedestrian-ssdlite, loop: true, realtime: true }
                    """, allowFolder: dir.path))
        try #require(try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }.status == 200)
        for id in ["cam1", "cam2"] {
            let reply = try await serve.poll("/api/v1/streams/\(id)", timeout: 120) {
                ($0.object?["frames"] as? Int ?? 0) >= 50
            }
            #expect((reply.object?["frames"] as? Int ?? 0) >= 50, "\(id): \(reply.object ?? [:])")
        }
        let fastNow = try await serve.request("GET", "/api/v1/streams/fast")
        let (status, _) = serve.stop()
        #expect(status == 0)

        let f = try Self.read(events + "/fast.jsonl")
        #expect(f.frames == Array(0..<f.frames.count), "fast: every frame, once, in order")
        #expect(f.shed > 0, "the fast stream offers more than the batcher takes: \(fastNow.object ?? [:])")
        // Its shed frames come in runs, each one line: far fewer lines than frames.
        #expect(f.lines * 2 < f.frames.count, "fast: \(f.lines) lines for \(f.frames.count) frames")
        for id in ["cam1", "cam2"] {
            let c = try Self.read(events + "/\(id).jsonl")
            #expect(c.frames == Array(0..<c.frames.count) && c.frames.count >= 50, "\(id)")
        }
    }
}
