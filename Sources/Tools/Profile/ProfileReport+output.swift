import Batching
import Foundation
import Monitoring
import Runtime

extension ProfileReport {
    /// The table in the paper's layout (stages as rows, batch sizes as columns), as Markdown.
    public var markdown: String {
        func row(_ name: String, _ value: (ProfileRow) -> String) -> String {
            "| \(name) | " + rows.map(value).joined(separator: " | ") + " |"
        }
        func s(_ v: Double) -> String { String(format: "%.5f", v) }
        var lines = [
            "# Profile: \(model) on \(deviceInfo["FULL_DEVICE_NAME"] ?? deviceInfo["device"] ?? "?")",
            "",
            "Source `\(source)`, real-time condition at \(fmt(fps)) fps, \(requests) inference request(s) in flight, "
                + "\(preprocessWorkers) pre-processing worker(s), \(machine.cores) cores, GPU: \(machine.gpu).",
            "Seconds per batch (median); the bottleneck is the slowest stage when stages overlap.",
            "",
            "| batch size | " + rows.map { String($0.batch) }.joined(separator: " | ") + " |",
            "|---|" + rows.map { _ in "---" }.joined(separator: "|") + "|",
            row("decoding") { s($0.decodeSeconds) },
            row("pre-processing") { s($0.preprocessSeconds) },
            row("inference") { s($0.inferenceSeconds) },
            row("post-processing") { s($0.postprocessSeconds) },
            row("real-time condition") { s($0.realtimeSeconds) },
            row("bottleneck") { "\($0.bottleneck) \(s($0.bottleneckSeconds))" },
            row("meets real-time") { $0.meetsRealtime ? "yes" : "**no**" },
            row("throughput (frames/s)") { String(format: "%.1f", $0.throughput) },
            row("CPU (% of one core)") { String(format: "%.0f", $0.cpuPercent) },
            row("peak RSS (MiB)") { String(format: "%.0f", Double($0.peakRSSBytes) / 1_048_576) },
            row("device memory (MiB)") {
                $0.deviceMemoryBytes.map { String(format: "%.0f", Double($0) / 1_048_576) } ?? "n/a"
            },
            "",
            "![stage time per batch](stages.svg)",
            "![throughput, CPU and memory](resources.svg)",
        ]
        lines.append("")
        return lines.joined(separator: "\n")
    }

    /// Stage seconds per batch against batch size, with the real-time line (Tables 1-2 as a plot).
    public var stagesPlot: String {
        let xs = rows.map { Double($0.batch) }
        return SVGChart(
            title: "Seconds per batch by stage (\(model))", xLabel: "batch size", yLabel: "seconds per batch", xs: xs,
            series: [
                .init(name: "pre-processing", values: rows.map(\.preprocessSeconds), color: "#1f77b4"),
                .init(name: "inference", values: rows.map(\.inferenceSeconds), color: "#d62728"),
                .init(name: "post-processing", values: rows.map(\.postprocessSeconds), color: "#2ca02c"),
                .init(name: "decoding", values: rows.map(\.decodeSeconds), color: "#9467bd"),
                .init(
                    name: "real-time condition (B/\(fmt(fps)))", values: rows.map(\.realtimeSeconds), color: "#000000",
                    dashed: true),
            ]
        ).render(width: 640, height: 400)
    }

    /// Throughput, CPU and memory against batch size (Figures 7-8 for this machine), three panels.
    public var resourcesPlot: String {
        let xs = rows.map { Double($0.batch) }
        let panels = [
            SVGChart(
                title: "Throughput", xLabel: "batch size", yLabel: "frames/s", xs: xs,
                series: [.init(name: "throughput", values: rows.map(\.throughput), color: "#d62728")]),
            SVGChart(
                title: "CPU", xLabel: "batch size", yLabel: "% of one core", xs: xs,
                series: [.init(name: "process CPU", values: rows.map(\.cpuPercent), color: "#1f77b4")]),
            SVGChart(
                title: "Memory", xLabel: "batch size", yLabel: "MiB", xs: xs,
                series: [
                    .init(name: "peak RSS", values: rows.map { Double($0.peakRSSBytes) / 1_048_576 }, color: "#2ca02c")
                ]
                    + (rows.contains { $0.deviceMemoryBytes != nil }
                        ? [
                            .init(
                                name: "device memory",
                                values: rows.map { Double($0.deviceMemoryBytes ?? 0) / 1_048_576 }, color: "#9467bd")
                        ] : [])),
        ]
        let w = 400
        let h = 320
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w * 3)\" height=\"\(h)\">\n"
        for (i, p) in panels.enumerated() {
            svg += "<g transform=\"translate(\(i * w),0)\">\n" + p.body(width: w, height: h) + "</g>\n"
        }
        return svg + "</svg>\n"
    }

    /// This machine as `batchline simulate --device FILE` reads it: pre- and post-processing per
    /// batch as measured, and inference per batch *as delivered*, B / the frames per second the run
    /// at that size reached with every stage sharing the machine. On a CPU, where decoding,
    /// pre-processing and inference take turns on the same cores, the median inference time alone
    /// overstates what a size can do; the delivered rate is the capacity the controller meets.
    public var deviceProfile: DeviceProfile {
        let sorted = rows.sorted { $0.batch < $1.batch }
        let name = deviceInfo["FULL_DEVICE_NAME"] ?? deviceInfo["device"] ?? "this machine"
        return DeviceProfile(
            name: "\(name), \(model), \(requests) request(s) in flight (batchline profile)",
            sizes: sorted.map(\.batch), preprocess: sorted.map(\.preprocessSeconds),
            inference: sorted.map { Double($0.batch) / max($0.throughput, 1e-9) },
            postprocess: sorted.map(\.postprocessSeconds), delivered: sorted.map(\.throughput))
    }

    /// Writes profile.json, profile.md, device.json (for `simulate --device`), stages.svg and
    /// resources.svg into `directory`.
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = URL(fileURLWithPath: directory)
        try writeJSON(self, to: dir.appendingPathComponent("profile.json").path)
        if rows.count >= 2 { try writeJSON(deviceProfile, to: dir.appendingPathComponent("device.json").path) }
        for (name, text) in [("profile.md", markdown), ("stages.svg", stagesPlot), ("resources.svg", resourcesPlot)] {
            do {
                try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            } catch {
                throw OutputError(path: dir.appendingPathComponent(name).path, message: "cannot write")
            }
        }
    }
}

private func fmt(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(format: "%.2f", v) }
