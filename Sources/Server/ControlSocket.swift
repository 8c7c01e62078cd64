import AsyncHTTPClient
import Core
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Runtime
import ServiceLifecycle
import UnixSignals

/// A `batchline run`'s control socket: the same model routes as `serve`'s HTTP server
/// (`GET /api/v1/models`, `POST /api/v1/models/{name}/activate|rollback`), served by Hummingbird on
/// a Unix socket readable by its owner only, and removed when the run ends. `batchline models`
/// talks to it with the same HTTP client as to a server.
public struct ControlSocket: Sendable {
    /// Where it listens.
    public let path: String

    /// Checks `path` before the run starts: short enough for a socket address, not another kind of
    /// file, and not the socket of a run that is alive (a stale one, left by a run that died, is
    /// replaced). With `derived` (the path made from the model folder), its folder is created
    /// owner-only if missing and must belong to this user, so that nobody else can put a socket there.
    public static func prepare(path: String, derived: Bool) async throws(PipelineError) -> ControlSocket {
        guard path.utf8.count < 100 else {
            throw PipelineError("\(path): control socket path too long (99 bytes at most)")
        }
        if derived { try ensurePrivateFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let fm = FileManager.default
        if let type = (try? fm.attributesOfItem(atPath: path))?[.type] as? FileAttributeType {
            guard type == .typeSocket else {
                throw PipelineError("\(path): exists and is not a socket; give another --control path")
            }
            guard await !ControlClient.isListening(socket: path) else {
                throw PipelineError(
                    "\(path): another batchline run is listening on this control socket (give this one --control PATH)")
            }
            try? fm.removeItem(atPath: path)
        }
        return ControlSocket(path: path)
    }

    /// Creates `folder` owner-only if missing; refuses one that belongs to someone else or that others
    /// may write to.
    static func ensurePrivateFolder(_ folder: String) throws(PipelineError) {
        let fm = FileManager.default
        if !fm.fileExists(atPath: folder) {
            do {
                try fm.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw PipelineError(
                    "\(folder): cannot create the control socket's folder: \(error.localizedDescription)")
            }
        }
        let a = try? fm.attributesOfItem(atPath: folder)
        let mine = (a?[.ownerAccountID] as? NSNumber)?.uint32Value == getuid()
        let mode = (a?[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard a?[.type] as? FileAttributeType == .typeDirectory, mine, mode & 0o022 == 0 else {
            throw PipelineError(
                "\(folder): the control socket's folder must be a folder of yours that others cannot write to")
        }
    }
}

/// Serves a run's control socket once its model is ready, until the run's service group stops.
struct ControlSocketService: Service {
    let socket: ControlSocket
    let pipeline: DetectionPipeline
    let logger: Logger

    func run() async throws {
        // Resumed by the run when its model is ready; a run that ends first has nothing to steer.
        guard await pipeline.waitForModels() != nil else { return }
        let router = Router(context: ControlContext.self)
        ModelRoutes.add(to: router, control: RunModels(pipeline: pipeline), trigger: "request")
        let path = socket.path
        let app = Application(
            responder: JSONErrors(inner: router.buildResponder(), token: nil, hosts: nil),
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "batchline"),
            onServerRunning: { _ in
                try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            },
            logger: logger)
        defer { try? FileManager.default.removeItem(atPath: path) }
        // `run()`, not `runService()`: the latter is a service group of its own that also stops on
        // SIGINT and SIGTERM, so on Ctrl-C the socket could end before the run's group saw the
        // signal, and the group took that for a failure (exit 1; 1 in 12 stops under load). Run
        // inside this service, the app stops with the run's graceful shutdown, in its order.
        try await app.run()
    }
}

/// A `batchline run` as a service group: the pipeline (its end ends the group) and its control
/// socket. SIGTERM or SIGINT stops the socket, then the pipeline: sources stop, frames read go
/// through, and the events, stats and annotated video are completed.
public enum RunLifecycle {
    /// Runs `pipeline` to its end (or a signal) with `control` served meanwhile; returns its report,
    /// or throws what ended it (the control socket's failure too).
    public static func run(_ pipeline: DetectionPipeline, control: ControlSocket?, logger: Logger) async throws
        -> RunReport
    {
        let run = PipelineRunService(pipeline: pipeline)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                // A failed run stops the socket gracefully too (cancelling it made Hummingbird log two
                // errors after the run's one line).
                service: run, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "pipeline")
        ]
        if let control {
            services.append(
                .init(
                    service: ControlSocketService(socket: control, pipeline: pipeline, logger: logger),
                    failureTerminationBehavior: .cancelGroup, serviceName: "control"))
        }
        var configuration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            if case .failure(let failure)? = run.outcome.value { throw failure }
            throw error
        }
        switch run.outcome.value {
        case .success(let report)?: return report
        case .failure(let error)?: throw error
        case nil: throw PipelineError(.failed, "the run ended before it started")
        }
    }
}

/// The pipeline's run as a service: graceful shutdown stops it the way `stop()` does.
struct PipelineRunService: Service {
    let pipeline: DetectionPipeline
    let outcome = Completion<Result<RunReport, any Error>>()

    func run() async throws {
        let pipeline = pipeline
        try await withGracefulShutdownHandler {
            do {
                outcome.complete(.success(try await pipeline.run()))
            } catch {
                outcome.complete(.failure(error))
                throw error
            }
        } onGracefulShutdown: {
            pipeline.stop()
        }
    }
}

/// Talks to a `batchline serve` (`http://HOST:PORT`) or a `batchline run`'s control socket over
/// HTTP, with AsyncHTTPClient: the CLI's one way to the control interface.
public struct ControlClient: Sendable {
    /// The server's address, or nil for a socket.
    let server: String?
    /// The socket's path, or nil for a server.
    let socket: String?
    /// A bearer token for mutating routes.
    let token: String?

    /// A client of the server at `url` (`http://HOST:PORT`).
    public init(server url: String, token: String?) {
        server = url.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        socket = nil
        self.token = token
    }

    /// A client of the run listening on `socket`.
    public init(socket path: String) {
        server = nil
        socket = path
        token = nil
    }

    /// The methods the control routes take.
    public enum Method: Sendable {
        case GET, POST
    }

    /// What came back: the status and the body.
    public struct Reply: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// The body.
        public var body: Data
        /// The `error` of a JSON error body, or the body as text.
        public var errorMessage: String {
            struct Failure: Decodable { var error: String }
            return (try? JSONDecoder().decode(Failure.self, from: body).error) ?? String(decoding: body, as: UTF8.self)
        }
    }

    /// Sends `method path` with `body` (JSON), waiting at most `timeout` for the answer.
    public func send(_ method: Method, _ path: String, body: Data? = nil, timeout: Duration = .seconds(120))
        async throws(PipelineError) -> Reply
    {
        let where_ = socket ?? server ?? ""
        let url: String
        if let socket {
            // A socket left by a run that died refuses at once; the HTTP client would retry it until
            // the deadline.
            guard await Self.isListening(socket: socket) else {
                throw PipelineError("\(socket): no batchline run is listening")
            }
            guard let host = socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) else {
                throw PipelineError("\(socket): not a usable socket path")
            }
            url = "http+unix://\(host)\(path)"
        } else {
            url = (server ?? "") + path
        }
        var request = HTTPClientRequest(url: url)
        request.method = method == .GET ? .GET : .POST
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .init(timeout))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return Reply(status: Int(response.status.code), body: Data(buffer: bytes))
        } catch let error as HTTPClientError where error == .connectTimeout || error == .deadlineExceeded {
            throw PipelineError("\(where_): no answer within \(Int(timeout.components.seconds)) s")
        } catch {
            if socket != nil, Self.refused(error) {
                throw PipelineError("\(where_): no batchline run is listening (\(error))")
            }
            throw PipelineError("\(where_): \(error)")
        }
    }

    /// Whether a run listens on `socket`: only a refused connection, or no file, says that nobody
    /// does (a connection is opened and closed at once; nothing is sent).
    static func isListening(socket: String) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socket).get()
            try? await channel.close()
            return true
        } catch {
            return !refused(error)
        }
    }

    /// A connection refused, or no socket file there.
    static func refused(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED || io.errnoCode == ENOENT }
        let text = "\(error)"
        return text.contains("connectionRefused") || text.contains("ECONNREFUSED") || text.contains("No such file")
            || text.contains("Connection refused")
    }
}
