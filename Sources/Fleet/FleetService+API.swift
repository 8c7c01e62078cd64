import Core
import Foundation
import Logging
import Synchronization

/// A node as `GET /api/v1/fleet/nodes` shows it.
public struct NodeView: Sendable, Encodable {
    public var name: String
    public var url: String
    /// Its own dashboard.
    public var dashboard: String
    public var state: NodeStatus.State
    /// Seconds in that state.
    public var since_s: Double
    public var last_error: String?
    /// The streams it runs (the fleet's cameras, once reconciled).
    public var cameras: [String]
    /// Detector frames a second it can still take: its tightest model's headroom; null before it
    /// measured any.
    public var headroom_fps: Double?
    public var models: [String: Load]
    /// Cores busy, and resident bytes, of its process.
    public var cpu: Double?
    public var memory_bytes: Int?
    /// Whether its event feed is open (the fleet goes round at once when it says something changed).
    public var feed: Bool

    public struct Load: Sendable, Encodable {
        public var capacity_fps: Double?
        public var served_fps: Double
        public var headroom_fps: Double?

        enum Keys: String, CodingKey { case capacity_fps, served_fps, headroom_fps }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(capacity_fps, forKey: .capacity_fps)
            try c.encode(served_fps, forKey: .served_fps)
            try c.encode(headroom_fps, forKey: .headroom_fps)
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, url, dashboard, state, since_s, last_error, cameras, headroom_fps, models, cpu, memory_bytes, feed
    }

    /// Every key always present; null where there is nothing.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(url, forKey: .url)
        try c.encode(dashboard, forKey: .dashboard)
        try c.encode(state, forKey: .state)
        try c.encode(since_s, forKey: .since_s)
        try c.encode(last_error, forKey: .last_error)
        try c.encode(cameras, forKey: .cameras)
        try c.encode(headroom_fps, forKey: .headroom_fps)
        try c.encode(models, forKey: .models)
        try c.encode(cpu, forKey: .cpu)
        try c.encode(memory_bytes, forKey: .memory_bytes)
        try c.encode(feed, forKey: .feed)
    }
}

/// A camera as `GET /api/v1/fleet/cameras` shows it.
public struct CameraView: Sendable, Encodable {
    public var id: String
    /// The node it runs on (or is assigned to); null when not placed.
    public var node: String?
    /// A node's name, or `auto`.
    public var placement: String
    /// `running` (or the node's own state of the stream), `starting`, `waiting` (its node is
    /// down), `unplaced`, `refused`.
    public var state: String
    public var problem: String?
    /// Frames a second the fleet counts for it on the detector.
    public var need_fps: Double
    /// The stream as its node takes it.
    public var spec: [String: JSONValue]

    enum CodingKeys: String, CodingKey { case id, node, placement, state, problem, need_fps, spec }

    /// Every key always present; null where there is nothing.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(node, forKey: .node)
        try c.encode(placement, forKey: .placement)
        try c.encode(state, forKey: .state)
        try c.encode(problem, forKey: .problem)
        try c.encode(need_fps, forKey: .need_fps)
        try c.encode(spec, forKey: .spec)
    }
}

extension FleetService {
    /// Every node, by name.
    public func nodeViews() -> [NodeView] {
        let now = Clock.now
        let feeds = self.feeds.withLock { $0 }
        return board.withLock { b in
            b.nodes.values.sorted { $0.name < $1.name }.map { n in
                let models = n.report?.models ?? [:]
                return NodeView(
                    name: n.name, url: n.url, dashboard: n.url + "/", state: n.state,
                    since_s: (now - n.since).rounded(), last_error: n.lastError,
                    cameras: n.report?.streams.map(\.id).sorted() ?? [],
                    headroom_fps: models.values.compactMap(\.headroomFPS).min().map(Self.round1),
                    models: models.mapValues {
                        NodeView.Load(
                            capacity_fps: $0.capacityFPS.map(Self.round1), served_fps: Self.round1($0.servedFPS),
                            headroom_fps: $0.headroomFPS.map(Self.round1))
                    }, cpu: n.report?.cpu, memory_bytes: n.report?.memoryBytes, feed: feeds[n.name] ?? false)
            }
        }
    }

    /// Every camera, by id.
    public func cameraViews() throws(FleetError) -> [CameraView] {
        let cameras = try store.cameras()
        return board.withLock { b in cameras.map { view($0, b) } }
    }

    /// Camera `id`.
    public func cameraView(_ id: String) throws(FleetError) -> CameraView {
        guard let camera = try store.cameras().first(where: { $0.id == id }) else {
            throw FleetError(.notFound, "no camera '\(id)'")
        }
        return board.withLock { view(camera, $0) }
    }

    /// Adds the camera `body` describes (`CameraRequest`); it is placed at once.
    public func addCamera(json body: Data) throws(FleetError) -> CameraView {
        let request: CameraRequest
        do {
            request = try CameraRequest(json: body, nodes: nodeNames)
        } catch {
            throw FleetError(.invalid, error.description)
        }
        try store.add(request.camera)
        note(.info, "camera \(request.camera.id) added (\(request.camera.placement ?? "auto"))")
        kick()
        return board.withLock { view(request.camera, $0) }
    }

    /// Moves camera `id` (`{"node": NAME}` or `{"node": "auto"}`).
    public func moveCamera(_ id: String, json body: Data) throws(FleetError) -> CameraView {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any], body.count <= 4096 else {
            throw FleetError(.invalid, "the body must be a JSON object: {\"node\": NAME or \"auto\"}")
        }
        if let key = object.keys.sorted().first(where: { $0 != "node" }) {
            throw FleetError(.invalid, "\(key): unknown key (known: node)")
        }
        guard object["node"] != nil else { throw FleetError(.invalid, "node: missing") }
        let placement: String?
        do {
            placement = try CameraRequest.placement(object["node"], nodes: nodeNames)
        } catch {
            throw FleetError(.invalid, error.description)
        }
        guard
            let moved = try store.modify(
                id,
                { c in
                    c.placement = placement
                    c.problem = nil
                    c.refused = false
                })
        else { throw FleetError(.notFound, "no camera '\(id)'") }
        note(.info, "camera \(id) asked for \(placement ?? "auto")")
        kick()
        return board.withLock { view(moved, $0) }
    }

    /// Removes camera `id` (its node stops it at the next round).
    public func removeCamera(_ id: String) throws(FleetError) {
        guard try store.remove(id) else { throw FleetError(.notFound, "no camera '\(id)'") }
        note(.info, "camera \(id) removed")
        kick()
    }

    /// The nodes a camera may name: configured and discovered.
    var nodeNames: Set<String> { board.withLock { Set($0.nodes.keys) } }

    /// What the fleet did and saw lately, oldest first.
    public func log() -> [FleetNote] { notes.withLock { $0.elements } }

    /// Whether the desired state can be read (readiness).
    public var ready: Bool { (try? store.cameras()) != nil }

    private func view(_ camera: Camera, _ board: NodeBoard) -> CameraView {
        let node = camera.node.flatMap { board.nodes[$0] }
        let running = node?.report?.streams.first { $0.id == camera.id }
        let state: String
        if camera.node == nil {
            state = "unplaced"
        } else if camera.refused {
            state = "refused"
        } else if node?.state == .down {
            state = "waiting"
        } else {
            state = running?.state ?? "starting"
        }
        let spec = (try? JSONDecoder().decode([String: JSONValue].self, from: camera.spec)) ?? [:]
        return CameraView(
            id: camera.id, node: camera.node, placement: camera.placement ?? "auto", state: state,
            problem: camera.problem, need_fps: Self.round1(camera.need), spec: spec)
    }

    static func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
}

/// Any JSON value, passed through (a camera's spec).
public enum JSONValue: Sendable, Codable, Equatable {
    case string(String), number(Double), bool(Bool), object([String: JSONValue]), array([JSONValue]), null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .object(let o): try c.encode(o)
        case .array(let a): try c.encode(a)
        case .null: try c.encodeNil()
        }
    }
}
