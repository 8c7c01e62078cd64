import EdgeNode
import Foundation
import TestSupport
import Testing

/// Limits on what a config file may hold: its size, its YAML nodes after aliases, every number.
@Suite("Config limits")
struct ConfigLimitsTests {
    @Test("An alias bomb (nested anchors, a few lines) is refused with one line, not expanded")
    func aliasBomb() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            yaml += "a\(level): &a\(level) [\(previous)]\n"
        }
        yaml += "streams: *a9\n"
        let (_, problems) = ServiceConfig.check(yaml: yaml, file: "bomb.yaml")
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.file == "bomb.yaml")
        #expect(problems.first?.message.contains("YAML nodes") == true, "\(problems)")
    }

    @Test("A 2 MB config (thousands of streams) is refused by its size, naming the file")
    func largeFile() throws {
        let dir = TestAssets.temporaryDirectory("config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("huge.yaml")
        var yaml = "streams:\n"
        var n = 0
        while yaml.utf8.count < 2 << 20 {
            yaml += "  - { id: s\(n), source: \(TestAssets.video), model: \(TestAssets.detector) }\n"
            n += 1
        }
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let (_, problems) = ServiceConfig.check(path: file.path)
        #expect(problems.count == 1, "\(problems.prefix(3))")
        #expect(problems.first?.file == file.path)
        #expect(problems.first?.message.contains("at most \(ServiceConfig.maxFileBytes) bytes") == true)
    }

    @Test("Numbers out of range are refused, naming the key, never trapping: timeout_s 1e13, rotate_mb 2^43, port 1e6")
    func ranges() {
        let cases = [
            ("sources: { timeout_s: 1e13 }", "sources.timeout_s"),
            ("sources: { timeout_s: 1.0e+13 }", "sources.timeout_s"),
            ("sources: { timeout_s: .inf }", "sources.timeout_s"),
            ("output: { rotate_mb: 8796093022208 }", "output.rotate_mb"),
            ("batching: { latency_slo_ms: 1e300 }", "batching.latency_slo_ms"),
            ("batching: { sizes: [99999999999999999999] }", "batching.sizes"),
            ("sources: { allow_folders: [/nowhere-at-all] }", "sources.allow_folders"),
        ]
        for (yaml, key) in cases {
            let (_, problems) = ServiceConfig.check(yaml: yaml, file: "r.yaml")
            #expect(problems.count == 1, "\(yaml): \(problems)")
            #expect(problems.first?.key == key, "\(yaml): \(problems)")
        }
    }
}
