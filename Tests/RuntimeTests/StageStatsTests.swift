import Runtime
import Testing

@testable import Runtime

@Suite("Stage statistics")
struct StageStatsTests {
    @Test("Bounded however long the run: count, mean and max exact, median from a uniform sample")
    func bounded() {
        var stats = StageStats()
        let n = 300_000
        for i in 0..<n { stats.add(Double(i) / 1000) }
        #expect(stats.samples.count == StageStats.keep)
        let s = stats.summary
        #expect(s.count == n)
        #expect(abs(s.meanMs - Double(n - 1) / 2) < 1e-6 * Double(n))
        #expect(s.maxMs == Double(n - 1))
        #expect(abs(s.p50Ms - Double(n) / 2) < 0.02 * Double(n), "median \(s.p50Ms)")
        #expect(abs(s.p99Ms - 0.99 * Double(n)) < 0.01 * Double(n), "p99 \(s.p99Ms)")
        var merged = StageStats()
        merged.add(stats)
        #expect(merged.summary.count == n && merged.summary.maxMs == Double(n - 1))
    }
}
