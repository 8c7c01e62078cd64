import Foundation
import TestSupport
import Testing

/// `serve --check-config` checks what `serve` checks as it starts, and `serve` refuses the same
/// config with the same one line: the real executable on real bad configs.
@Suite("serve --check-config", .serialized)
struct CheckConfigTests {
    /// A config in `dir` with one stream on `model`, events in `events` (`dir/events`); `extra` adds sections.
    static func write(
        _ dir: URL, model: String = TestAssets.detector, events: String? = nil, extra: String = ""
    ) throws -> String {
        let file = dir.appendingPathComponent("serve.yaml").path
        let yaml = """
            server: { port: 0 }
            output: { events: \(events ?? dir.appendingPathComponent("events").path) }
            \(extra)
            streams:
              - { id: cam, source: \(TestAssets.video), model: \(model), loop: true }
            """
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Checks `file`: exit 1 with one line naming the file, `key` and `words`; then `serve` on it
    /// exits non-zero with that same line. Returns the line.
    @discardableResult
    static func expectRefused(_ file: String, key: String, words: String, serve: Bool = true) throws -> String {
        let check = try runBatchline(["serve", "--check-config", file], timeout: 300)
        #expect(!check.timedOut)
        #expect(check.status == 1, "\(check.stdout) \(check.stderr)")
        let lines = check.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 1, "\(check.stderr)")
        let line = lines.first ?? ""
        #expect(line.hasPrefix("batchline: error: \(file): \(key): "), "\(line)")
        #expect(line.contains(words), "\(line) should say \(words)")
        guard serve else { return line }
        let served = try runBatchline(["serve", "--config", file], timeout: 300)
        #expect(!served.timedOut)
        #expect(served.status != 0)
        #expect(served.stderr.split(separator: "\n").contains { $0 == line }, "serve said: \(served.stderr)")
        return line
    }

    @Test("An events folder under /proc, under a file: refused by --check-config and by serve, one line each")
    func eventsFolder() throws {
        let dir = TestAssets.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let proc = try Self.write(dir, events: "/proc/batchline-events")
        try Self.expectRefused(proc, key: "output.events", words: "/proc/batchline-events")

        let plain = dir.appendingPathComponent("plain.txt")
        try "x".write(to: plain, atomically: true, encoding: .utf8)
        let underFile = try Self.write(dir, events: plain.path + "/events")
        try Self.expectRefused(underFile, key: "output.events", words: "Not a directory")
    }

    @Test("An unknown device is refused, naming the devices OpenVINO has")
    func unknownDevice() throws {
        let dir = TestAssets.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try Self.write(dir, extra: "device: NPU9")
        try Self.expectRefused(file, key: "device", words: "unknown device 'NPU9' (OpenVINO has: ")
    }

    @Test("A model path that is not a model, and a repository whose highest version is corrupt, are refused")
    func models() throws {
        let dir = TestAssets.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notModel = dir.appendingPathComponent("notes.txt")
        try "not a model".write(to: notModel, atomically: true, encoding: .utf8)
        try Self.expectRefused(
            try Self.write(dir, model: notModel.path), key: "streams[0].model", words: notModel.path)

        let repository = TemporaryRepository(name: "detector")
        defer { repository.remove() }
        try repository.add(1, from: TestAssets.detector)
        try repository.add(2, from: TestAssets.detector) { folder in
            try Data("garbage, not a graph".utf8).write(to: folder.appendingPathComponent("frozen_inference_graph.pb"))
        }
        let corrupt = try Self.write(dir, model: repository.folder)
        let line = try Self.expectRefused(corrupt, key: "streams[0].model", words: "/2")
        #expect(line.contains("detector"), "\(line)")
    }

    @Test("An alias bomb and a 2 MB config are refused at once by --check-config")
    func bombAndSize() throws {
        let dir = TestAssets.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            bomb += "a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", "))]\n"
        }
        let bombFile = dir.appendingPathComponent("bomb.yaml").path
        try bomb.write(toFile: bombFile, atomically: true, encoding: .utf8)
        let check = try runBatchline(["serve", "--check-config", bombFile], timeout: 120)
        #expect(!check.timedOut)
        #expect(check.status == 1)
        #expect(
            check.stderr == "batchline: error: \(bombFile): more than 100000 YAML nodes once its aliases are expanded\n"
        )

        let big = dir.appendingPathComponent("big.yaml").path
        let entry = "  - { id: s, source: \(TestAssets.video), model: \(TestAssets.detector) }\n"
        try ("streams:\n" + String(repeating: entry, count: (2 << 20) / entry.utf8.count + 1))
            .write(toFile: big, atomically: true, encoding: .utf8)
        let large = try runBatchline(["serve", "--check-config", big], timeout: 120)
        #expect(large.status == 1)
        #expect(large.stderr.hasPrefix("batchline: error: \(big): "), "\(large.stderr)")
        #expect(large.stderr.contains("a config is at most 1048576 bytes"), "\(large.stderr)")
    }

    @Test("A right config: exit 0, saying what was checked (events folder, device, models compiled)")
    func rightConfig() throws {
        let dir = TestAssets.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try Self.write(dir)
        let check = try runBatchline(["serve", "--check-config", file], timeout: 300)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("checked: events folder"), "\(check.stdout)")
        #expect(check.stdout.contains("device CPU available"), "\(check.stdout)")
        #expect(check.stdout.contains("1 models loaded and compiled on CPU"), "\(check.stdout)")
        // The check leaves no folder behind.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("events").path))
    }
}
