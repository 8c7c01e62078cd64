import AsyncHTTPClient
import Core
import Foundation
import Logging
import ModelRegistry
import Synchronization

/// The fleet: every node polled each `pollInterval` (at once, each bounded by its client's
/// time-out), their states moved on the `NodeBoard`, and the `Reconciler`'s plan carried out
/// against the desired state in the `FleetStore`. A change over the API goes round at once.
public final class FleetService: Sendable {
    public let config: FleetConfig
    let store: FleetStore
    let clients: Mutex<[String: NodeClient]>
    let client: HTTPClient
    /// The discovered nodes' token (`discover.token_file`).
    let discoveredToken: String?
    /// When the discovery name was last looked up.
    let lastLookup = Mutex<Double>(-.infinity)
    let board: Mutex<NodeBoard>
    let notes = Mutex(Ring<FleetNote>(capacity: 256))
    let wake = Wake()
    /// Node/model pairs being switched to their assigned version, and their tries.
    let switching = Mutex(VersionSwitches())
    /// Nodes whose cameras are being started (one task per node at a time).
    let starting = Mutex<Set<String>>([])
    /// Whether each node's event feed is open (`NodeFeed`).
    let feeds = Mutex<[String: Bool]>([:])
    let logger: Logger

    /// Opens the desired state and reads every node's token; throws one line naming what is wrong.
    public init(config: FleetConfig, logger: Logger, client: HTTPClient = .shared) throws(FleetError) {
        self.config = config
        self.logger = logger
        store = try FleetStore(path: config.statePath)
        self.client = client
        var clients: [String: NodeClient] = [:]
        for node in config.nodes {
            let token = try node.tokenFile.map { file throws(FleetError) in
                try Self.token(file, what: "nodes \(node.name)", config: config)
            }
            clients[node.name] = NodeClient(node: node, token: token, client: client)
        }
        discoveredToken = try config.discover?.tokenFile.map { file throws(FleetError) in
            try Self.token(file, what: "discover", config: config)
        }
        if let root = config.repository, (try? ModelRepository(root: root)) == nil {
            throw FleetError(.invalid, "\(config.file): models.repository: no such folder \(root)")
        }
        self.clients = Mutex(clients)
        board = Mutex(NodeBoard(nodes: config.nodes, downAfter: config.downAfter, now: Clock.now))
    }

    static func token(_ file: String, what: String, config: FleetConfig) throws(FleetError) -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw FleetError(.invalid, "\(config.file): \(what): cannot read token_file \(file)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Goes round until cancelled (every `pollInterval`, and at once when a node's event feed says
    /// something changed); rollouts move on a loop of their own (a node's switch may take a minute:
    /// the nodes are still watched meanwhile).
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    let began = Clock.now
                    await self.round()
                    await self.wake.wait(seconds: self.config.pollInterval)
                    // Half a second between rounds at least: a node whose streams change without
                    // end (a camera that flaps) cannot make the fleet poll without end.
                    let spent = Clock.now - began
                    if spent < 0.5 { try? await Task.sleep(for: .seconds(0.5 - spent)) }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    await self.advanceRollouts()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            // Each node's feed goes round at once when something changed there.
            group.addTask { await self.followFeeds() }
        }
    }

    /// One round: poll, plan, act.
    public func round() async {
        await discover()
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
        var starts: [String: [Camera]] = [:]
        for action in plan {
            if case .start(let node, let id) = action, let camera = byID[id] {
                starts[node, default: []].append(camera)
            } else {
                await carry(action, byID)
            }
        }
        for (node, list) in starts.sorted(by: { $0.key < $1.key }) { startCameras(list, on: node) }
        let rollouts = (try? store.rollouts()) ?? []
        switchVersions(board.withLock { Reconciler.versions(board: $0, rollouts: rollouts) })
    }

    /// Asks for a round now (after a change over the API).
    func kick() { wake.kick() }

    /// Every `discover.every` seconds: the name's addresses, each not yet known asked its name and
    /// added (or, a known name at a new address, moved there).
    private func discover() async {
        guard let discovery = config.discover else { return }
        let now = Clock.now
        let due = lastLookup.withLock { last -> Bool in
            guard now - last >= discovery.every else { return false }
            last = now
            return true
        }
        guard due else { return }
        let dns = discovery.dns
        let addresses = await BlockingExecutor.shared.run { Resolver.addresses(of: dns) }
        let known = Set(clients.withLock { $0.values.map(\.node.url) })
        for address in addresses.prefix(FleetConfig.maxNodes) {
            let url = "http://\(address):\(discovery.port)"
            guard !known.contains(url) else { continue }
            let probe = NodeClient(
                node: .init(name: address, url: url, tokenFile: nil), token: discoveredToken, client: client)
            switch await probe.identity() {
            case .success(let name) where config.nodes.contains(where: { $0.name == name }):
                // A configured node keeps its address and token: an address that claims its name
                // is not given them.
                note(.warning, "\(url) (from \(dns)) says it is \(name), a node configured elsewhere: left out")
            case .success(let name):
                let node = FleetConfig.Node(name: name, url: url, tokenFile: nil)
                // nil: the fleet holds `maxNodes` already and this is a new one (not kept, nor on the board).
                let added = clients.withLock { c -> Bool? in
                    let existed = c[name] != nil
                    guard c.count < FleetConfig.maxNodes || existed else { return nil }
                    c[name] = NodeClient(node: node, token: c[name]?.token ?? discoveredToken, client: client)
                    return !existed
                }
                guard let added else {
                    note(.warning, "node \(name) at \(url) left out: the fleet holds \(FleetConfig.maxNodes) nodes")
                    continue
                }
                board.withLock { $0.add(name, url: url, at: Clock.now) }
                note(.info, added ? "node \(name) discovered at \(url)" : "node \(name) is now at \(url)")
            case .failure(let error):
                note(.warning, "\(url) (from \(dns)) does not say its name: \(error.message)")
            }
        }
    }

    private func poll() async {
        let current = clients.withLock { $0 }
        let results = await withTaskGroup(of: (String, Result<NodeReport, FleetError>).self) { group in
            for (name, client) in current {
                // A Result, not `do throws(FleetError)` in the task: the release build (Swift
                // 6.x, -O) corrupted the returned name that way, and the fleet crashed at its
                // first answer ("No foreign strings"); seen in the fleet's pod.
                group.addTask { (name, await client.reportResult()) }
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
            guard let camera = cameras[id] else { return }
            startCameras([camera], on: node)
        case .serve:
            // Switches go by `switchVersions`, over the whole plan of versions.
            break
        case .stop(let node, let stream, let reason):
            guard let client = clients.withLock({ $0[node] }) else { return }
            if let failure = await client.stop(stream) {
                note(.warning, "stream \(stream) on \(node) could not be stopped: \(failure)")
            } else {
                note(.notice, "stream \(stream) stopped on \(node): \(reason)")
            }
        }
    }

    /// Starts `cameras` on `node` on a task of its own (a model to send and compile there does not
    /// hold the round: the nodes are still watched, a dead one still fails over); one such task per
    /// node at a time (the next round sends what is left). Each model is made ready once.
    func startCameras(_ cameras: [Camera], on node: String) {
        guard starting.withLock({ $0.insert(node).inserted }) else { return }
        guard let client = clients.withLock({ $0[node] }) else {
            _ = starting.withLock { $0.remove(node) }
            return
        }
        Task {
            defer { _ = self.starting.withLock { $0.remove(node) } }
            var ready: [String: String?] = [:]
            for camera in cameras {
                let model = camera.modelName
                if ready[model] == nil { ready[model] = .some(await self.prepare(model, on: node)) }
                if let problem = ready[model] ?? nil {
                    self.change(camera.id) { c in
                        if c.node == node { c.problem = "starting on \(node): \(problem)" }
                    }
                    continue
                }
                // As it is now, not as the round saw it: moved, changed or removed meanwhile (a
                // model may take a minute to send and compile), it is left to the next round.
                guard let now = (try? self.store.cameras())?.first(where: { $0.id == camera.id }),
                    now.node == node, now.spec == camera.spec, !now.refused
                else { continue }
                await self.start(now, on: node, client)
            }
        }
    }

    private func start(_ camera: Camera, on node: String, _ client: NodeClient) async {
        let id = camera.id
        switch await client.start(camera.spec) {
        case .started, .exists:
            if camera.problem != nil { change(id) { $0.problem = nil } }
            note(.info, "camera \(id) started on \(node)")
        case .refused(let message):
            change(id) { c in
                guard c.spec == camera.spec, c.node == node else { return }
                c.problem = "\(node) refused it: \(message)"
                c.refused = true
            }
            note(.error, "camera \(id): \(node) refused it: \(message)")
        case .failed(let message):
            change(id) { c in if c.node == node { c.problem = "starting on \(node): \(message)" } }
        }
    }

    private func change(_ id: String, _ body: @Sendable (inout Camera) -> Void) {
        do {
            try store.modify(id) { c throws(FleetError) in body(&c) }
        } catch {
            note(.error, "camera \(id) could not be saved: \(error)")
        }
    }

    public func note(_ level: Logger.Level, _ text: String) {
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
