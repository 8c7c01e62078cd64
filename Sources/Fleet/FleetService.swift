import AsyncHTTPClient
import Core
import Foundation
import Logging
import Synchronization

/// The fleet: every node polled each `pollInterval` (at once, each bounded by its client's
/// time-out), their states moved on the `NodeBoard`, and the `Reconciler`'s plan carried out
/// against the desired state in the `FleetStore`. A change over the API goes round at once.
public final class FleetService: Sendable {
    public let config: FleetConfig
    let store: FleetStore
    let clients: [String: NodeClient]
    let board: Mutex<NodeBoard>
    let notes = Mutex(Ring<FleetNote>(capacity: 256))
    let wake = Wake()
    let logger: Logger

    /// Opens the desired state and reads every node's token; throws one line naming what is wrong.
    public init(config: FleetConfig, logger: Logger, client: HTTPClient = .shared) throws(FleetError) {
        self.config = config
        self.logger = logger
        store = try FleetStore(path: config.statePath)
        var clients: [String: NodeClient] = [:]
        for node in config.nodes {
            var token: String?
            if let file = node.tokenFile {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw FleetError(.invalid, "\(config.file): nodes \(node.name): cannot read token_file \(file)")
                }
                token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            clients[node.name] = NodeClient(node: node, token: token, client: client)
        }
        self.clients = clients
        board = Mutex(NodeBoard(nodes: config.nodes, downAfter: config.downAfter, now: Clock.now))
    }

    /// Goes round until cancelled.
    public func run() async {
        while !Task.isCancelled {
            await round()
            await wake.wait(seconds: config.pollInterval)
        }
    }

    /// One round: poll, plan, act.
    public func round() async {
        await poll()
        let cameras: [Camera]
        do {
            cameras = try store.cameras()
        } catch {
            note(.error, "the desired state cannot be read: \(error)")
            return
        }
        // A camera seen running where it is assigned has no problem left (a start that timed out
        // while its node loaded the model, say).
        let running = board.withLock { b in
            Set(
                cameras.filter { c in
                    c.node.flatMap { b.nodes[$0]?.report?.streams.contains { $0.id == c.id } } ?? false
                }.map(\.id))
        }
        for camera in cameras where camera.problem != nil && running.contains(camera.id) && !camera.refused {
            change(camera.id) { $0.problem = nil }
        }
        let plan = board.withLock {
            Reconciler.plan(cameras: cameras, board: $0, failover: config.failover, now: Clock.now)
        }
        let byID = Dictionary(uniqueKeysWithValues: cameras.map { ($0.id, $0) })
        for action in plan { await carry(action, byID) }
    }

    /// Asks for a round now (after a change over the API).
    func kick() { wake.kick() }

    private func poll() async {
        let results = await withTaskGroup(of: (String, Result<NodeReport, FleetError>).self) { group in
            for (name, client) in clients {
                group.addTask {
                    do throws(FleetError) {
                        return (name, .success(try await client.report()))
                    } catch {
                        return (name, .failure(error))
                    }
                }
            }
            var all: [(String, Result<NodeReport, FleetError>)] = []
            for await result in group { all.append(result) }
            return all
        }
        let now = Clock.now
        for (name, result) in results {
            let changed = board.withLock { b -> NodeStatus.State? in
                switch result {
                case .success(let report): return b.answered(name, report, at: now)
                case .failure(let error): return b.failed(name, error.message, at: now)
                }
            }
            if let changed {
                let why = (try? result.get()) == nil ? board.withLock { $0.nodes[name]?.lastError } ?? "" : ""
                note(
                    changed == .up ? .info : .warning,
                    "node \(name) is \(changed.rawValue)\(why.isEmpty ? "" : ": \(why)")")
            }
        }
    }

    private func carry(_ action: Reconciler.Action, _ cameras: [String: Camera]) async {
        switch action {
        case .assign(let id, let node, let reason):
            // Only when it is still where the plan found it (a change over the API may have come).
            let was = cameras[id]?.node
            change(id) { c in
                guard c.node == was else { return }
                c.node = node
                c.problem = nil
                c.refused = false
            }
            note(.info, "camera \(id) assigned to \(node ?? "no node"): \(reason)")
        case .unplaced(let id, let reason):
            change(id) { $0.problem = reason }
            note(.warning, "camera \(id) not placed: \(reason)")
        case .start(let node, let id):
            guard let camera = cameras[id], let client = clients[node] else { return }
            switch await client.start(camera.spec) {
            case .started, .exists:
                if camera.problem != nil { change(id) { $0.problem = nil } }
                note(.info, "camera \(id) started on \(node)")
            case .refused(let message):
                change(id) { c in
                    guard c.spec == camera.spec else { return }
                    c.problem = "\(node) refused it: \(message)"
                    c.refused = true
                }
                note(.error, "camera \(id): \(node) refused it: \(message)")
            case .failed(let message):
                change(id) { $0.problem = "starting on \(node): \(message)" }
            }
        case .stop(let node, let stream, let reason):
            guard let client = clients[node] else { return }
            if let failure = await client.stop(stream) {
                note(.warning, "stream \(stream) on \(node) could not be stopped: \(failure)")
            } else {
                note(.notice, "stream \(stream) stopped on \(node): \(reason)")
            }
        }
    }

    private func change(_ id: String, _ body: @Sendable (inout Camera) -> Void) {
        do {
            try store.modify(id) { c throws(FleetError) in body(&c) }
        } catch {
            note(.error, "camera \(id) could not be saved: \(error)")
        }
    }

    func note(_ level: Logger.Level, _ text: String) {
        logger.log(level: level, "\(text)")
        let entry = FleetNote(time: Date().timeIntervalSince1970, level: level.rawValue, text: text)
        notes.withLock { $0.append(entry) }
    }
}

/// Something the fleet did or saw, kept (the last 256) for `GET /api/v1/fleet/log`.
public struct FleetNote: Sendable, Codable, Equatable {
    public var time: Double
    public var level: String
    public var text: String
}
