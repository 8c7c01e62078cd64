import Foundation
import TestSupport
import Testing
import Vision

@testable import Runtime

@Suite("Events files that survive restarts and full disks", .serialized)
struct EventWriterTests {
    static func result(_ frame: Int) -> FrameResult {
        var r = FrameResult(
            stream: 0, frame: frame, pts: Double(frame) / 10, model: "m@1", batch: 1,
            detections: [Detection(label: "person", classId: 1, score: 0.9, box: [1, 2, 30, 40])])
        r.name = "cam"
        return r
    }

    /// The frame numbers of a file whose every line must be a whole JSON object.
    static func frames(_ path: String) throws -> [Int] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"), "\(path) ends in a split line")
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try #require(object?["frame"] as? Int, "not an event line: \(line)")
        }
    }

    @Test("Starting over a file keeps it (rotated, its split last line cut off), never truncates it")
    func restartKeepsFile() throws {
        let dir = TestAssets.temporaryDirectory("writer-restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cam.jsonl").path
        let first = try EventWriter(path: path, keep: 3, start: .rotate)
        for i in 0..<50 { try first.write(Self.result(i)) }
        try first.close()
        // A SIGKILL in mid-line.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"stream":"cam","frame":50,"pts"#.utf8))
        try handle.close()

        let second = try EventWriter(path: path, keep: 3, start: .rotate)
        #expect(second.trimmedBytes == #"{"stream":"cam","frame":50,"pts"#.utf8.count)
        for i in 0..<7 { try second.write(Self.result(i)) }
        try second.close()
        #expect(try Self.frames(path + ".1") == Array(0..<50))
        #expect(try Self.frames(path) == Array(0..<7))
        // Restarts shift older files up and keep `keep` of them; an empty file is not kept.
        for _ in 0..<3 {
            let again = try EventWriter(path: path, keep: 3, start: .rotate)
            try again.write(Self.result(0))
            try again.close()
        }
        try EventWriter(path: path, keep: 3, start: .rotate).close()
        try EventWriter(path: path, keep: 3, start: .rotate).close()
        #expect(FileManager.default.fileExists(atPath: path + ".3"))
        #expect(!FileManager.default.fileExists(atPath: path + ".4"))
        // A run's output (truncate) begins anew.
        try EventWriter(path: path).close()
        #expect(try Self.frames(path).isEmpty)
    }

    @Test(
        "A full disk: lines are held, then lost and counted beyond the bound, never split; when space returns, writing resumes by itself",
        .enabled(if: SmallDisk.canMount, "needs a tmpfs: root or CAP_SYS_ADMIN")
    )
    func fullDisk() throws {
        let (disk, why) = SmallDisk.make(kilobytes: 256)
        let small = try #require(disk, "\(why ?? "")")
        defer { small.remove() }
        let path = small.path + "/cam.jsonl"
        let writer = try EventWriter(path: path, start: .rotate, maxPending: 64 << 10)
        writer.retryInterval = 0
        let filler = try small.fill()
        var outcomes: [EventWriter.Outcome] = []
        for i in 0..<2000 {
            outcomes.append(try writer.write(Self.result(i)))
            writer.flush()
        }
        #expect(writer.failure?.contains("No space left") == true, "\(writer.failure ?? "no failure")")
        let lost = outcomes.filter { $0 == .lost }.count
        #expect(lost > 0 && writer.lost == lost)
        // Space comes back: the held lines go out, then new ones; nothing split, nothing repeated.
        try FileManager.default.removeItem(atPath: filler)
        for i in 2000..<2010 { try writer.write(Self.result(i)) }
        writer.flush()
        #expect(writer.failure == nil)
        try writer.close()
        let written = try Self.frames(path)
        let kept = outcomes.indices.filter { outcomes[$0] == .kept } + Array(2000..<2010)
        #expect(written == kept, "written \(written.count), kept \(kept.count)")
    }
}
