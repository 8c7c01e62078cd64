import Foundation
import Testing

@testable import Monitoring

@Suite("Resource monitor")
struct MonitoringTests {
    @Test("Sees this process busy, its memory, and the machine")
    func samples() {
        let monitor = ResourceMonitor(interval: 0.05)
        monitor.start()
        let deadline = Date().addingTimeInterval(0.5)
        var x = 0.0
        while Date() < deadline { x += sin(x) + 1 }  // keep one core busy
        let samples = monitor.stop()
        #expect(x > 0)
        #expect(samples.count >= 5)
        let summary = ResourceSummary(samples)
        #expect(summary.processCPUMean > 40, "one busy core should read ~100%, read \(summary.processCPUMean)")
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
