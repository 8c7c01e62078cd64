/// One node as the fleet last saw it.
public struct NodeStatus: Sendable, Equatable {
    public enum State: String, Sendable, Codable {
        /// Not answered yet since the fleet started (not `down` before `downAfter`).
        case unknown
        case up
        /// No answer for `downAfter` seconds.
        case down
    }

    public var name: String
    public var url: String
    public var state = State.unknown
    /// When it entered its state (fleet clock, seconds).
    public var since: Double
    /// When it last answered.
    public var lastAnswer: Double?
    /// Why its last poll failed, kept until it answers.
    public var lastError: String?
    /// What it reported when it last answered.
    public var report: NodeReport?
}

/// What a node reports of itself on a poll: its streams and what its models can still take.
public struct NodeReport: Sendable, Equatable {
    public struct Stream: Sendable, Equatable {
        public var id: String
        public var state: String
        public var fps: Double
        public var model: String

        public init(id: String, state: String, fps: Double, model: String) {
            self.id = id
            self.state = state
            self.fps = fps
            self.model = model
        }
    }

    public var streams: [Stream]
    /// Each served model's detector frames a second: capacity (nil until measured), served, headroom.
    public var models: [String: ModelLoad]
    /// Process CPU (cores busy) and resident bytes, when the node says.
    public var cpu: Double?
    public var memoryBytes: Int?

    public struct ModelLoad: Sendable, Equatable {
        public var capacityFPS: Double?
        public var servedFPS: Double
        public var headroomFPS: Double?
        /// The version it serves (nil until known), and those its repository holds.
        public var version: Int?
        public var versions: [Int]

        public init(
            capacityFPS: Double?, servedFPS: Double, headroomFPS: Double?, version: Int? = nil, versions: [Int] = []
        ) {
            self.capacityFPS = capacityFPS
            self.servedFPS = servedFPS
            self.headroomFPS = headroomFPS
            self.version = version
            self.versions = versions
        }
    }

    public init(streams: [Stream], models: [String: ModelLoad], cpu: Double? = nil, memoryBytes: Int? = nil) {
        self.streams = streams
        self.models = models
        self.cpu = cpu
        self.memoryBytes = memoryBytes
    }
}

/// Every node's state, moved by poll answers and failures: a value, no I/O, no clock (the times
/// are given). A node that answers is `up`; one that has not answered for `downAfter` seconds
/// (since its last answer, or since the board began) is `down`, and `up` again at its next answer.
public struct NodeBoard: Sendable {
    public let downAfter: Double
    public private(set) var nodes: [String: NodeStatus]
    private let began: Double

    public init(nodes: [FleetConfig.Node], downAfter: Double, now: Double) {
        self.downAfter = downAfter
        began = now
        var all: [String: NodeStatus] = [:]
        for node in nodes { all[node.name] = NodeStatus(name: node.name, url: node.url, since: now) }
        self.nodes = all
    }

    /// A node found later (discovered): `unknown` until it answers; a known name takes `url`.
    public mutating func add(_ name: String, url: String, at now: Double) {
        if nodes[name] != nil {
            nodes[name]!.url = url
        } else {
            nodes[name] = NodeStatus(name: name, url: url, since: now)
        }
    }

    /// `name` answered with `report`; returns its new state when it changed.
    @discardableResult
    public mutating func answered(_ name: String, _ report: NodeReport, at now: Double) -> NodeStatus.State? {
        guard var node = nodes[name] else { return nil }
        let changed = node.state != .up
        if changed {
            node.state = .up
            node.since = now
        }
        node.lastAnswer = now
        node.lastError = nil
        node.report = report
        nodes[name] = node
        return changed ? .up : nil
    }

    /// `name` did not answer (`error` says why); returns its new state when it changed.
    @discardableResult
    public mutating func failed(_ name: String, _ error: String, at now: Double) -> NodeStatus.State? {
        guard var node = nodes[name] else { return nil }
        node.lastError = error
        let silentSince = node.lastAnswer ?? began
        let changed = node.state != .down && now - silentSince >= downAfter
        if changed {
            node.state = .down
            node.since = now
        }
        nodes[name] = node
        return changed ? .down : nil
    }

    /// Seconds `name` has been down (nil when it is not).
    public func downFor(_ name: String, now: Double) -> Double? {
        guard let node = nodes[name], node.state == .down else { return nil }
        return now - node.since
    }
}
