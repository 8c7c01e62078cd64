import ArgumentParser
import Fleet
import Foundation
import Logging
import Server

extension Batchline {
    /// `batchline fleet`: cameras and their placement across every node, from one place.
    struct FleetCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fleet",
            abstract: "Run the fleet: cameras placed on the nodes by headroom, reconciled, moved when a node fails.",
            discussion: """
                Every node of the config (each a batchline serve) is polled every 2 s: down after 6 s \
                without an answer. GET /api/v1/fleet/nodes, GET|POST /api/v1/fleet/cameras, \
                GET|PATCH|DELETE /api/v1/fleet/cameras/{id}. SIGTERM or SIGINT stops it (exit 0).
                """)

        @Option(name: .long, help: "The fleet's YAML config (see config/fleet.yaml).")
        var config: String

        @Option(name: .long, help: "Listen on this port instead of the config's (0: any free one).")
        var port: Int?

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging(serving: true)
            var settings: FleetConfig
            do {
                settings = try FleetConfig.load(path: config)
            } catch {
                throw fail(error)
            }
            if let port {
                guard (0...65535).contains(port) else { throw fail(ValidationError("--port \(port): use 0...65535")) }
                settings.port = port
            }
            let nodes = settings.nodes.count
            do {
                try await FleetServe.run(config: settings, logger: Logger(label: "batchline.fleet")) { address in
                    FileHandle.standardOutput.write(
                        Data("batchline fleet: listening on \(address) (\(nodes) nodes)\n".utf8))
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
