import Fleet
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `batchline fleet`: the fleet's service and its HTTP API in one lifecycle. SIGTERM or SIGINT
/// stops both and exits 0; the desired state is on disk after every change.
public enum FleetServe {
    public static func run(
        config: FleetConfig, logger: Logger, onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        let fleet = try FleetService(config: config, logger: logger)
        let token = try config.tokenFile.map { try Token.load(path: $0, logger: logger) }
        let host = config.host
        let app = Application(
            responder: JSONErrors(
                inner: FleetRoutes.router(fleet).buildResponder(), token: token,
                hosts: HostCheck(host: host, allowed: [])),
            configuration: .init(address: .hostname(host, port: config.port), serverName: "batchline-fleet"),
            onServerRunning: { channel in onListening("http://\(host):\(channel.localAddress?.port ?? config.port)") },
            logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: app, serviceName: "http"),
                .init(service: ReconcileLoop(fleet: fleet), serviceName: "reconcile"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// The fleet's rounds as a service: until graceful shutdown.
struct ReconcileLoop: Service {
    let fleet: FleetService

    func run() async {
        await cancelWhenGracefulShutdown { await fleet.run() }
    }
}
