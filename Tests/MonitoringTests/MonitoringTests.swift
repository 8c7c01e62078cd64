import Core
import Foundation
import Testing

@testable import Monitoring

@Suite("Resource monitor")
struct MonitoringTests {
    @Test("Sees this process busy, its memory, and the machine")
    func samples() {
        let monitor = ResourceMonitor(interval: 0.05)
        monitor.start()
        // Keep one core busy until 5 samples are in (60 s only against a hang), however slow the machine.
        let deadline = Date().addingTimeInterval(60)
        var x = 0.0
        while monitor.summary.samples < 5 && Date() < deadline {
            for _ in 0..<10_000 { x += sin(x) + 1 }
        }
        let samples = monitor.stop()
        #expect(x > 0)
        #expect(samples.count >= 5)
        let summary = ResourceSummary(samples)
        // The share of a core a loaded machine gives: timing is a benchmark, not a test. It is seen busy.
        #expect(summary.processCPUMean > 0, "read \(summary.processCPUMean)")
        #expect(summary.systemCPUMean > 0 && summary.systemCPUMean <= 100)
        #expect(summary.rssPeakBytes > 1 << 20)
        let machine = monitor.machine
        #expect(machine.cores == ProcessInfo.processInfo.activeProcessorCount)
        #expect(machine.memoryBytes > 0)
        if !FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1") {
            #expect(machine.gpu == "no GPU")
            #expect(summary.gpus.isEmpty)
        }
    }

    @Test("Peak RSS is at least the current RSS")
    func peak() {
        #expect(ResourceMonitor.peakResidentBytes() >= ResourceMonitor.residentBytes() / 2)
        #expect(ResourceMonitor.residentBytes() > 0)
    }
}

@Suite("Bounded records")
struct BoundedTests {
    @Test("A ring keeps the newest elements in order and counts them all")
    func ring() {
        var r = Ring<Int>(capacity: 3)
        #expect(r.elements.isEmpty && r.last == nil)
        for i in 1...2 { r.append(i) }
        #expect(r.elements == [1, 2] && r.total == 2)
        for i in 3...10 { r.append(i) }
        #expect(r.elements == [8, 9, 10] && r.count == 3 && r.total == 10 && r.last == 10)
        r.removeAll()
        #expect(r.elements.isEmpty && r.total == 0)
    }

    @Test("The monitor keeps a bounded number of samples and summarises all of them")
    func monitorBounded() {
        let monitor = ResourceMonitor(interval: 0.01, keep: 5)
        monitor.start()
        // Waits for more samples than it keeps (60 s only against a hang), not a fixed time.
        let deadline = Date().addingTimeInterval(60)
        while monitor.summary.samples <= 10 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let recent = monitor.stop()
        let summary = monitor.summary
        #expect(recent.count == 5, "kept \(recent.count)")
        #expect(summary.samples > 10, "summarised \(summary.samples)")
        #expect(zip(recent, recent.dropFirst()).allSatisfy { $0.time < $1.time }, "oldest first")
        // The summary of every sample matches one made from them all at once.
        var all: [ResourceSample] = []
        for k in 0..<50 {
            all.append(
                ResourceSample(
                    time: Double(k), processCPU: Double(k), systemCPU: 1, rssBytes: 1000 + k, cgroupUsageBytes: nil,
                    gpus: []))
        }
        let s = ResourceSummary(all)
        #expect(s.processCPUMean == 24.5 && s.processCPUPeak == 49 && s.samples == 50)
    }
}
