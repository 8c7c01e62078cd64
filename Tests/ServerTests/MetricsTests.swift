import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("Prometheus metrics", .serialized)
struct MetricsTests {
    /// One PromQL query's single value.
    static func query(_ port: Int, _ promql: String) async throws -> Double? {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: promql)]
        let (data, _) = try await URLSession.shared.data(from: components.url!)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let result = (object?["data"] as? [String: Any])?["result"] as? [[String: Any]]
        guard let value = (result?.first?["value"] as? [Any])?.last as? String else { return nil }
        return Double(value)
    }

    @Test(
        "A real Prometheus scrapes /metrics: it computes an average batch size within the configured sizes and a frame rate; promtool finds the format valid"
    )
    func prometheusScrapes() async throws {
        let dir = TestAssets.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = TestAssets.video
        let serve = try ServeProcess(
            config: ServeTests.config(
                events: dir.appendingPathComponent("events").path,
                streams: """
                      - { id: north, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                      - { id: south, source: \(video), model: pedestrian-ssdlite, loop: true, realtime: true }
                    """))
        try #require(try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }.status == 200)
        let target = serve.address.replacingOccurrences(of: "http://", with: "")
        let promPort = closedPort()
        let config = dir.appendingPathComponent("prometheus.yml")
        try """
        global: { scrape_interval: 1s, evaluation_interval: 1s }
        scrape_configs:
          - job_name: batchline
            static_configs: [ { targets: ["\(target)"] } ]
        """.write(to: config, atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(promPort)",
        ]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle.nullDevice
        try prometheus.run()
        defer {
            kill(prometheus.processIdentifier, SIGKILL)
            prometheus.waitUntilExit()
        }
        // Scrapes every second: wait for enough of them for a 5 s rate.
        var fps: Double?
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline {
            try await Task.sleep(for: .seconds(1))
            fps = try? await Self.query(promPort, "sum(rate(batchline_frames_total[5s]))")
            if let fps, fps > 0 { break }
        }
        let promBatch = try await Self.query(promPort, "sum(nv_inference_count) / sum(nv_inference_exec_count)")
        let stats = try await serve.request("GET", "/v2/models/pedestrian-ssdlite/stats")
        let model = (stats.object?["model_stats"] as? [[String: Any]])?.first ?? [:]
        let count = Double(model["inference_count"] as? Int ?? 0)
        let executions = Double(model["execution_count"] as? Int ?? 1)
        let ownBatch = count / max(executions, 1)
        fps = try await Self.query(promPort, "sum(rate(batchline_frames_total[5s]))")
        let streams = try await serve.request("GET", "/api/v1/streams").array ?? []
        let ownFPS = streams.reduce(0.0) { $0 + ($1["fps"] as? Double ?? 0) }
        print(
            "Prometheus: average batch \(promBatch.map { String(format: "%.3f", $0) } ?? "none") (the service's stats: \(String(format: "%.3f", ownBatch))), frames/s \(fps.map { String(format: "%.2f", $0) } ?? "none") (the streams': \(String(format: "%.2f", ownFPS)))"
        )
        // Prometheus's figures against the service's own, scraped at another moment, and the rate
        // against the streams': timing is a benchmark (bench/serve.sh), not a test. Each average
        // batch is one of the configured sizes' range, 1...8; the rate is there and positive.
        let batch = try #require(promBatch, "no value for the average batch size")
        #expect((1...8).contains(batch) && (1...8).contains(ownBatch), "\(batch), the service's \(ownBatch)")
        let rate = try #require(fps, "no value for the frames per second")
        #expect(rate > 0 && rate.isFinite, "\(rate) frames/s")

        // The exposition format: valid; promtool's only remarks are on Triton's own names, kept so
        // that Grafana boards made for Triton work.
        let text = try await serve.request("GET", "/metrics")
        let file = dir.appendingPathComponent("metrics.txt")
        try text.data.write(to: file)
        let check = try runProcess(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "promtool check metrics < '\(file.path)'"], timeout: 30)
        #expect(check.status == 0 || check.status == 3, "promtool: \(check.status) \(check.stderr)")
        let remarks = (check.stdout + check.stderr).split(separator: "\n").filter { !$0.isEmpty }
        #expect(remarks.allSatisfy { $0.hasPrefix("nv_inference_") }, "\(remarks)")
        let (status, _) = serve.stop()
        #expect(status == 0)
    }
}
