import Delivery
import EdgeNode
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Monitoring
import NIOCore
import Runtime
import ServiceLifecycle
import UnixSignals

/// `batchline serve`: one lifecycle for a node. swift-service-lifecycle's `ServiceGroup` runs the
/// pipelines, the resource sampler and the HTTP server as services. SIGTERM or SIGINT stops the
/// server accepting first, then the sampler, then the pipelines: sources stop, frames in flight
/// finish, every events file is flushed and closed, and the process exits 0.
public enum Serve {
    /// Runs `config` until SIGTERM or SIGINT. `onListening` hears the address once the server is up
    /// (with port 0, the one chosen). The node's series go to `metrics`' registry (made through its
    /// factory, which the executable also bootstraps `MetricsSystem` with), and `GET /metrics` renders it.
    public static func run(
        config: ServiceConfig, logger: Logger, metrics: MetricsExporter = MetricsExporter(),
        onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        // The sinks' outboxes open first: one that cannot be opened stops the start (one line).
        let sinks: EventSinks?
        do {
            sinks =
                config.sinks.isEmpty
                ? nil
                : try EventSinks(config.sinks, folder: config.outboxFolder, metrics: metrics.factory, logger: logger)
        } catch {
            throw ConfigError(file: config.file, key: "sinks", error.description)
        }
        let service = EdgeService(
            config: config, logger: logger, metrics: metrics.factory, sinks: sinks,
            media: try Self.eventMedia(config, logger: logger))
        let sampler = SamplerService()
        let host = config.host
        let limits = config.serverLimits
        let token = try config.tokenFile.map { try Token.load(path: $0, logger: logger) }
        let connections = ServerSettings.connectionLimit(limits.maxConnections, logger: logger)
        let feed = EventFeed(
            service: service, logger: logger, sampler: sampler.monitor,
            writeTimeout: config.serverLimits.feedWriteTimeout, connections: connections)
        let connectionGuard = ConnectionGuard(limit: connections, limits: limits, factory: metrics.factory)
        let app = Application(
            responder: ControlPlane.responder(
                service, metrics: metrics, sampler: sampler.monitor, feed: feed, token: token,
                guards: RequestGuards(config: config)),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [connectionGuard.handler()],
                    idleTimeout: .milliseconds(Int64(limits.idleTimeout * 1000)))),
            // The guard keeps the connections at `connections` by closing idle ones; accepting
            // stops only past a reserve above it (a hard bound on descriptors while closes land).
            configuration: .init(
                address: .hostname(host, port: config.port), serverName: "batchline",
                availableConnectionsDelegate: MaximumAvailableConnections(
                    connections + ServerSettings.acceptReserve(connections), logger: logger)),
            onServerRunning: { channel in
                onListening("http://\(host):\(channel.localAddress?.port ?? config.port)")
            },
            logger: logger)
        // Shut down in reverse order: the pipelines first (readiness goes, new streams are refused,
        // sources stop, frames in flight drain, events files close), then the sampler, then the
        // HTTP server, which answers until then. Bounded: whatever is left after 9.5 s is cancelled.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: app, serviceName: "http"),
                .init(service: sampler, serviceName: "resource-sampler"),
                .init(service: feed, serviceName: "event-feed"),
                // After the pipelines in shutdown: what their drain counted still enters the outboxes.
                .init(service: SinksService(sinks: sinks), serviceName: "sinks"),
                .init(
                    service: PipelinesService(service: service, logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .cancelGroup, serviceName: "pipelines"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(9500)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// The node's sinks as a service: they deliver their outboxes until graceful shutdown, then say
/// goodbye to their peers (what is not acknowledged stays in the outboxes for the next start).
struct SinksService: Service {
    let sinks: EventSinks?

    /// Never throws: cancelled (the group's shutdown ran past its bound), it just ends, as the other
    /// services do; an exit status is the pipelines' to give.
    func run() async {
        guard let sinks else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown { await sinks.run() }
    }
}

/// The node's pipelines as a service: loads the models and starts the configured streams, then,
/// at graceful shutdown, drains and closes everything.
struct PipelinesService: Service {
    let service: EdgeService
    let logger: Logger

    func run() async throws {
        // The stop begins the moment graceful shutdown does, even while the models still load.
        let service = service
        try await withGracefulShutdownHandler {
            do {
                try await service.start()
            } catch {
                // Stopped while starting (a signal): not a failure. Asked before `shutdown`, which
                // marks the service stopping whatever the reason.
                let requested = service.isStopping
                await service.shutdown()
                if requested { return }
                logger.error("the service could not start: \(error)")
                throw error
            }
            // Returns at graceful shutdown (or throws when the group is cancelled: drain all the same).
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            service.beginShutdown()
        }
        await service.shutdown()
    }
}

/// Samples CPU and memory once a second (bounded: a running summary and the last 10 minutes).
struct SamplerService: Service {
    let monitor = ResourceMonitor(interval: 1, keep: 600)

    func run() async throws {
        monitor.start()
        try? await gracefulShutdown()
        _ = monitor.stop()
    }
}

/// The bearer token that mutating routes need, from `server.token_file`.
enum Token {
    /// Reads the token; when the file does not exist, makes a random one and writes it owner-only
    /// (0600), saying where (never the token itself). A file that its group or others may write is
    /// refused (anyone could set the token). One that others may read is served with a warning on
    /// standard error and in the log, naming the file and the fix: some runtimes cannot mount a
    /// Secret otherwise (podman's `kube play` mounts it 0644 whatever `defaultMode` says; Kubernetes
    /// honours the bundled pod's 0440). The mode is that of the file a link leads to (Secrets are
    /// mounted through links).
    static func load(path: String, logger: Logger) throws -> String {
        if FileManager.default.fileExists(atPath: path) {
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let attributes = try? FileManager.default.attributesOfItem(atPath: target)
            let bits = (attributes?[.posixPermissions] as? NSNumber)?.intValue ?? 0
            let mode = String(bits & 0o777, radix: 8)
            if bits & 0o022 != 0 {
                throw ConfigError(
                    file: path, key: nil, "the token file may be written by others (mode \(mode)): chmod 600 \(path)")
            }
            if bits & 0o004 != 0 {
                let warning = "the token file may be read by others (mode \(mode)): chmod 600 \(path)"
                logger.warning("\(warning)", metadata: ["token.file": "\(path)"])
                FileHandle.standardError.write(Data("batchline serve: warning: \(warning)\n".utf8))
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(file: path, key: nil, "cannot read the token file")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 16 else {
                throw ConfigError(file: path, key: nil, "the token must be 16 characters or more")
            }
            return token
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw ConfigError(file: path, key: nil, "cannot write the token file") }
        logger.notice("made a bearer token for the mutating routes", metadata: ["token.file": "\(path)"])
        FileHandle.standardError.write(Data("batchline serve: a new bearer token is in \(path) (owner-only)\n".utf8))
        return token
    }
}
