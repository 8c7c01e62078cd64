import ArgumentParser
import Core
import CoreMetrics
import EdgeNode
import Foundation
import Logging
import Server

extension Batchline {
    /// `batchline serve`: the long-running service of an edge node.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve streams until stopped, with an HTTP control plane.",
            discussion: """
                Streams come from the config and from POST /api/v1/streams; each writes \
                <output.events>/<id>.jsonl. GET /v2/health/live and /v2/health/ready answer probes. \
                SIGTERM or SIGINT drains every stream, closes every events file and exits 0.
                """
        )

        @Option(name: .long, help: "The YAML config (see config/serve.yaml).")
        var config: String?

        @Option(
            name: .customLong("check-config"),
            help: """
                Check this config as serve would start it (the file, the events folder written to, the device, \
                every model loaded and compiled) and exit: 0, or 1 with one line per problem.
                """)
        var checkConfig: String?

        @Option(
            name: .long,
            help:
                "This node's name (Kubernetes: spec.nodeName): serve the config's shared streams and its nodes.<name> part."
        )
        var node: String?

        @Option(name: .long, help: "Listen on this port instead of the config's (0: any free one).")
        var port: Int?

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (config == nil) != (checkConfig == nil) else {
                throw ValidationError("give either --config FILE (serve) or --check-config FILE (check and exit)")
            }
            if let node, !ServiceConfig.isValidNodeName(node) {
                throw ValidationError("--node '\(node)' is not a Kubernetes node name (lower-case DNS name)")
            }
        }

        func run() async throws {
            if let checkConfig { try await check(checkConfig) }
            global.bootstrapLogging(serving: true)
            var settings: ServiceConfig
            do {
                settings = try ServiceConfig.load(path: config!)
            } catch {
                throw fail(error)
            }
            if let port {
                guard (0...65535).contains(port) else { throw fail(ValidationError("--port \(port): use 0...65535")) }
                settings.port = port
            }
            if node == nil && !settings.nodes.isEmpty {
                FileHandle.standardError.write(
                    Data(
                        "batchline serve: \(settings.file) assigns streams to \(settings.nodes.count) nodes; without --node this serves its shared streams only\n"
                            .utf8))
            }
            if let node {
                if !settings.nodes.isEmpty && !settings.hasOwnPart(node: node) {
                    FileHandle.standardError.write(
                        Data(
                            "batchline serve: \(settings.file) has no part for node \(node): serving its shared streams only\n"
                                .utf8))
                }
                settings = settings.selecting(node: node)
            }
            let logger = Logger(label: "batchline.serve")
            let streams = settings.streams.count
            // The Prometheus backend, once in the process: the node's series and any other library's go
            // to the registry that GET /metrics renders.
            let metrics = MetricsExporter()
            MetricsSystem.bootstrap(metrics.factory)
            do {
                try await Server.Serve.run(config: settings, logger: logger, metrics: metrics) { address in
                    let line =
                        "batchline serve: listening on \(address) (\(streams) configured streams); the dashboard is at \(address)/\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            } catch {
                throw fail(error)
            }
        }

        /// `--check-config`: every problem on a line of its own (exit 1), or a summary of what was
        /// checked (exit 0). The file first; then, when it is right, what `serve` checks as it starts.
        private func check(_ path: String) async throws -> Never {
            let (settings, found) = ServiceConfig.check(path: path)
            var problems = found
            var checked: [String] = []
            if problems.isEmpty {
                let config = settings
                let start = await BlockingExecutor.shared.run { config.checkStart(streams: config.allStreams) }
                problems = start.problems
                checked = start.checked
            }
            guard problems.isEmpty else {
                let lines = problems.map { "batchline: error: \($0)\n" }.joined()
                FileHandle.standardError.write(Data(lines.utf8))
                throw ExitCode(1)
            }
            let served = node.map { settings.selecting(node: $0) } ?? settings
            let models = Set(settings.allStreams.map(\.model)).sorted()
            var line = "\(path): ok: \(settings.allStreams.count) streams (\(settings.streams.count) shared"
            line +=
                ", \(settings.nodes.count) nodes), models \(models.isEmpty ? "none" : models.joined(separator: ", "))"
            if let node { line += "; node \(node) serves \(served.streams.count)" }
            line += "; checked: " + checked.joined(separator: ", ")
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
            throw ExitCode.success
        }
    }
}
