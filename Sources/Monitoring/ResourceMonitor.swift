import Core
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One reading of the machine and this process.
public struct ResourceSample: Codable, Sendable {
    /// Seconds since the monitor started.
    public var time: Double
    /// This process's CPU use since the previous sample, in percent of one core (200 = two cores busy).
    public var processCPU: Double
    /// The whole machine's CPU use since the previous sample, in percent of all cores.
    public var systemCPU: Double
    /// Resident set size of this process, bytes.
    public var rssBytes: Int
    /// The container's memory use (cgroup v2 `memory.current`), bytes, where known.
    public var cgroupUsageBytes: Int?
    /// NVIDIA GPUs, where NVML is present.
    public var gpus: [GPUSample]

    enum CodingKeys: String, CodingKey {
        case time, gpus
        case processCPU = "process_cpu_pct"
        case systemCPU = "system_cpu_pct"
        case rssBytes = "rss_bytes"
        case cgroupUsageBytes = "cgroup_usage_bytes"
    }
}

/// Samples CPU and memory on its own thread at a fixed interval, cheaply (a few small /proc reads).
///
/// Bounded however long it runs: a running summary of every sample (means and peaks) and the most
/// recent `keep` samples themselves.
public final class ResourceMonitor: Sendable {
    /// Seconds between samples.
    public let interval: Double
    private let state: Mutex<State>
    private let gpu: NVML?

    private struct State {
        var recent: Ring<ResourceSample>
        var summary = RunningSummary()
        var running = false
        var generation = 0
        /// Raised by `stop`: the sampling thread wakes and ends at once.
        var stop = StopSignal()
        /// The machine's CPU in use, 0...1, averaged over the last samples (half-life of a sample).
        var machineBusy: Double?
    }

    /// Creates a monitor keeping the last `keep` samples (10 minutes at the default interval); NVML
    /// is loaded now if `libnvidia-ml.so.1` exists.
    public init(interval: Double = 0.25, keep: Int = 2400) {
        self.interval = interval
        state = Mutex(State(recent: Ring(capacity: keep)))
        gpu = NVML.load()
    }

    /// Every sample since `start()`, summarised (means and peaks), however many there were.
    public var summary: ResourceSummary { state.withLock { $0.summary.summary } }

    /// The most recent samples, oldest first.
    public var recent: [ResourceSample] { state.withLock { $0.recent.elements } }

    /// The share of the machine's CPU in use lately (0...1; each sample weighs half against the
    /// ones before), for the batch size manager; nil before the first sample.
    public var machineBusy: Double? { state.withLock { $0.machineBusy } }

    /// Machine facts that do not change: cores, memory, container limit, GPUs.
    public var machine: MachineInfo {
        MachineInfo(
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: Int(ProcessInfo.processInfo.physicalMemory),
            cgroupLimitBytes: Cgroup.memoryLimit(),
            gpu: gpu.map { g in g.sample().map(\.name).joined(separator: ", ") } ?? "no GPU")
    }

    /// Starts sampling (again, from an empty record).
    public func start() {
        let (generation, stop) = state.withLock { s -> (Int, StopSignal) in
            s.stop.raise()
            s.stop = StopSignal()
            s.recent.removeAll()
            s.summary = RunningSummary()
            s.machineBusy = nil
            s.running = true
            s.generation += 1
            return (s.generation, s.stop)
        }
        let thread = Thread { [self] in
            let origin = Clock.now
            var last = CPUTimes.read()
            var due = Clock.now
            while state.withLock({ $0.running && $0.generation == generation }) {
                due += interval
                if stop.sleep(until: due) { break }
                let now = CPUTimes.read()
                let sample = ResourceSample(
                    time: Clock.now - origin, processCPU: now.processPercent(since: last),
                    systemCPU: now.systemPercent(since: last), rssBytes: Self.residentBytes(),
                    cgroupUsageBytes: Cgroup.memoryUsage(), gpus: gpu?.sample() ?? [])
                last = now
                state.withLock { s in
                    guard s.generation == generation else { return }
                    s.recent.append(sample)
                    s.summary.add(sample)
                    let busy = min(1, max(0, sample.systemCPU / 100))
                    s.machineBusy = s.machineBusy.map { 0.5 * $0 + 0.5 * busy } ?? busy
                }
            }
        }
        thread.name = "batchline-monitor"
        thread.start()
    }

    /// Stops sampling and returns the most recent samples (`summary` has all of them summarised).
    @discardableResult
    public func stop() -> [ResourceSample] {
        state.withLock { s in
            s.running = false
            s.stop.raise()
            return s.recent.elements
        }
    }

    /// The cgroup's memory limit, bytes; nil when there is none.
    public static func cgroupMemoryLimit() -> Int? { Cgroup.memoryLimit() }

    /// Resident set size of this process now, bytes.
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Peak resident set size of this process so far (`VmHWM`), bytes.
    public static func peakResidentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kb * 1024
    }
}

/// Facts about the machine.
public struct MachineInfo: Codable, Sendable {
    /// Online cores.
    public var cores: Int
    /// Physical memory, bytes.
    public var memoryBytes: Int
    /// The container's memory limit (cgroup v2 `memory.max`), bytes; nil when unlimited or unknown.
    public var cgroupLimitBytes: Int?
    /// NVIDIA GPUs seen through NVML, or "no GPU".
    public var gpu: String

    enum CodingKeys: String, CodingKey {
        case cores, gpu
        case memoryBytes = "memory_bytes"
        case cgroupLimitBytes = "cgroup_limit_bytes"
    }
}

/// A summary of samples over a run.
public struct ResourceSummary: Codable, Sendable {
    /// Mean process CPU, percent of one core.
    public var processCPUMean: Double
    /// Highest process CPU sample.
    public var processCPUPeak: Double
    /// Mean machine CPU, percent of all cores.
    public var systemCPUMean: Double
    /// Highest RSS sampled, bytes.
    public var rssPeakBytes: Int
    /// Highest container memory use sampled, bytes.
    public var cgroupUsagePeakBytes: Int?
    /// Highest GPU utilisation and memory sampled, per GPU.
    public var gpus: [GPUSample]
    /// How many samples.
    public var samples: Int

    /// Summarises `samples` (empty gives zeros).
    public init(_ samples: [ResourceSample]) {
        var running = RunningSummary()
        for s in samples { running.add(s) }
        self = running.summary
    }

    init(
        processCPUMean: Double, processCPUPeak: Double, systemCPUMean: Double, rssPeakBytes: Int,
        cgroupUsagePeakBytes: Int?, gpus: [GPUSample], samples: Int
    ) {
        self.processCPUMean = processCPUMean
        self.processCPUPeak = processCPUPeak
        self.systemCPUMean = systemCPUMean
        self.rssPeakBytes = rssPeakBytes
        self.cgroupUsagePeakBytes = cgroupUsagePeakBytes
        self.gpus = gpus
        self.samples = samples
    }

    enum CodingKeys: String, CodingKey {
        case gpus, samples
        case processCPUMean = "process_cpu_mean_pct"
        case processCPUPeak = "process_cpu_peak_pct"
        case systemCPUMean = "system_cpu_mean_pct"
        case rssPeakBytes = "rss_peak_bytes"
        case cgroupUsagePeakBytes = "cgroup_usage_peak_bytes"
    }
}

/// Sums and peaks of samples, added one at a time: a summary in constant memory.
struct RunningSummary: Sendable {
    private var count = 0
    private var processSum = 0.0
    private var processPeak = 0.0
    private var systemSum = 0.0
    private var rssPeak = 0
    private var cgroupPeak: Int?
    private var gpuPeaks: [Int: GPUSample] = [:]

    mutating func add(_ s: ResourceSample) {
        count += 1
        processSum += s.processCPU
        processPeak = max(processPeak, s.processCPU)
        systemSum += s.systemCPU
        rssPeak = max(rssPeak, s.rssBytes)
        if let c = s.cgroupUsageBytes { cgroupPeak = max(cgroupPeak ?? 0, c) }
        for g in s.gpus {
            var p = gpuPeaks[g.index] ?? g
            p.utilization = max(p.utilization, g.utilization)
            p.memoryUsedBytes = max(p.memoryUsedBytes, g.memoryUsedBytes)
            gpuPeaks[g.index] = p
        }
    }

    var summary: ResourceSummary {
        let n = Double(max(count, 1))
        return ResourceSummary(
            processCPUMean: processSum / n, processCPUPeak: processPeak, systemCPUMean: systemSum / n,
            rssPeakBytes: max(rssPeak, ResourceMonitor.residentBytes()), cgroupUsagePeakBytes: cgroupPeak,
            gpus: gpuPeaks.keys.sorted().map { gpuPeaks[$0]! }, samples: count)
    }
}

/// CPU tick counters of this process and of the machine.
struct CPUTimes {
    var process: Double  // seconds of CPU this process used
    var busy: Double  // machine ticks not idle
    var total: Double  // machine ticks
    var wall: Double

    static func read() -> CPUTimes {
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        var process = 0.0
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) { process = (u + s) / hz }
        }
        var busy = 0.0
        var total = 0.0
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        {
            let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            total = v.reduce(0, +)
            let idle = (v.count > 4 ? v[3] + v[4] : v.count > 3 ? v[3] : 0)
            busy = total - idle
        }
        return CPUTimes(process: process, busy: busy, total: total, wall: Clock.now)
    }

    func processPercent(since last: CPUTimes) -> Double {
        let wall = wall - last.wall
        return wall > 0 ? (process - last.process) / wall * 100 : 0
    }

    func systemPercent(since last: CPUTimes) -> Double {
        let t = total - last.total
        return t > 0 ? (busy - last.busy) / t * 100 : 0
    }
}

/// The container's memory figures from cgroup v2.
enum Cgroup {
    static let root = "/sys/fs/cgroup"

    static func memoryLimit() -> Int? {
        guard let text = try? String(contentsOfFile: root + "/memory.max", encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))  // "max" -> nil
    }

    static func memoryUsage() -> Int? {
        guard let text = try? String(contentsOfFile: root + "/memory.current", encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
