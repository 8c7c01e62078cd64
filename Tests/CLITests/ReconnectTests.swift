import Foundation
import Synchronization
import TestSupport
import Testing
import VideoIO

/// Frames of vtest.avi written as an MPEG-TS file (what a camera streams), made once per test run.
func liveClip(frames: Int) throws -> String {
    let path = TestAssets.temporaryDirectory("clip").appendingPathComponent("camera.ts").path
    let decoder = try VideoDecoder(input: TestAssets.video)
    let encoder = try VideoEncoder(
        output: path, width: decoder.info.width, height: decoder.info.height, frameRate: decoder.info.frameRate)
    for _ in 0..<frames {
        guard let frame = try decoder.nextFrame() else { break }
        try encoder.write(rgb: frame.pixels)
    }
    try encoder.finish()
    return path
}

/// Lines of an events file as JSON objects (complete lines only).
func eventLines(_ path: String) -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
}

@Suite("A live source that drops", .serialized)
struct ReconnectTests {
    @Test(
        "A camera killed and restarted is reconnected, frame numbers run on; one that never comes back ends run with one line, exit 1"
    )
    func cameraDropsAndComesBack() throws {
        let clip = try liveClip(frames: 200)
        defer { try? FileManager.default.removeItem(atPath: (clip as NSString).deletingLastPathComponent) }
        let camera = try LiveHTTPCamera(file: clip, seconds: 20)
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("events.jsonl").path
        let seen = Mutex<(before: Int, after: Int)>((0, 0))
        // The operator: kill the camera once frames flow, bring it back 2 s later, then kill it for good.
        let operatorDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { operatorDone.signal() }
            func waitFor(_ n: Int) -> Int {
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline {
                    let count = eventLines(events).count
                    if count >= n { return count }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return eventLines(events).count
            }
            let before = waitFor(20)
            camera.stop()
            Thread.sleep(forTimeInterval: 2)
            try? camera.start()
            let after = waitFor(before + 20)
            camera.stop()
            seen.withLock { $0 = (before, after) }
        }
        // --timeout 30: the 2 s outage plus the camera's restart (Python starting on a loaded machine
        // took over 7 s once) must not look like a camera lost for good.
        let r = try runBatchline(
            [
                "run", "--source", camera.url, "--model", TestAssets.detector, "--events", events, "--timeout", "30",
                "-v",
            ],
            timeout: 120)
        operatorDone.wait()
        let (before, after) = seen.withLock { $0 }
        #expect(after >= before + 20, "frames resumed after the reconnect: \(before) then \(after)")
        // Ends because the camera never came back: non-zero, one line naming the source and why.
        #expect(r.status == 1, "\(r.stderr)")
        let errorLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("batchline: error:") }
        #expect(errorLines.count == 1, "\(r.stderr)")
        #expect(errorLines.first?.contains(camera.url) == true && errorLines.first?.contains("camera lost") == true)
        // How long it went without frames is measured: timing is a benchmark, not a test.
        #expect(errorLines.first?.contains("no frames for ") == true, "\(errorLines)")
        #expect(r.stderr.contains("source reconnected"), "the reconnect is logged")
        // One sequence: numbered 0, 1, 2... across the reconnect, timestamps never going back.
        let lines = eventLines(events)
        let frames = lines.compactMap { $0["frame"] as? Int }
        #expect(frames == Array(0..<frames.count) && frames.count >= after)
        let pts = lines.compactMap { $0["pts"] as? Double }
        #expect(zip(pts, pts.dropFirst()).allSatisfy { $0 < $1 }, "pts run on across the reconnect")
    }
}
