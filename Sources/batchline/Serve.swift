import ArgumentParser
import Foundation
import Logging
import Service

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
        var config: String

        @Option(name: .long, help: "Listen on this port instead of the config's (0: any free one).")
        var port: Int?

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging(serving: true)
            var settings: ServiceConfig
            do {
                settings = try ServiceConfig.load(path: config)
            } catch {
                throw fail(error)
            }
            if let port {
                guard (0...65535).contains(port) else { throw fail(ValidationError("--port \(port): use 0...65535")) }
                settings.port = port
            }
            let logger = Logger(label: "batchline.serve")
            let streams = settings.streams.count
            do {
                try await Service.Serve.run(config: settings, logger: logger) { address in
                    let line =
                        "batchline serve: listening on \(address) (\(streams) configured streams); the dashboard is at \(address)/\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
