import EdgeNode
import Foundation

/// A camera of the fleet's desired state: the stream spec a node's `POST /api/v1/streams` takes, and
/// where it should run.
public struct Camera: Sendable, Equatable, Codable {
    /// `[A-Za-z0-9_-]{1,64}`, the stream's id on its node.
    public var id: String
    /// The stream spec as its node takes it (a JSON object with `id`): passed through, checked by
    /// the node that runs it.
    public var spec: Data
    /// Its model, as the spec names it.
    public var model: String
    /// Its model's name in a repository (`REPO/name` and `name` alike).
    public var modelName: String { Self.modelName(model) }

    /// The repository name of a model as a spec names it: a name, or a path whose last part is it.
    public static func modelName(_ given: String) -> String { URL(fileURLWithPath: given).lastPathComponent }
    /// Detector frames a second it needs: its frames a second (`fps`, default 25) over its
    /// `infer_every` (1 when `auto`: the node may lengthen it, placement does not count on it).
    public var need: Double
    /// Where it is asked to run: a node's name, or nil for `auto`.
    public var placement: String?
    /// The node it is assigned to now (nil: not placed).
    public var node: String?
    /// Why it is not running where it should: not placed, or refused by its node.
    public var problem: String?
    /// Its node refused its spec (a 400): not sent again until the camera changes.
    public var refused = false

    public init(
        id: String, spec: Data, model: String, need: Double, placement: String?, node: String? = nil,
        problem: String? = nil, refused: Bool = false
    ) {
        self.id = id
        self.spec = spec
        self.model = model
        self.need = need
        self.placement = placement
        self.node = node
        self.problem = problem
        self.refused = refused
    }
}

/// A `POST /api/v1/fleet/cameras` body: a stream as a node's `POST /api/v1/streams` takes it, plus
/// `node` (a node's name, or `auto`, the default) and `fps` (the camera's frames a second, for
/// placement; default 25). Checked as untrusted input: a JSON object of at most `maxBytes`, no
/// unknown key, a valid id (one is made up when missing), a source and a model; the node checks
/// the rest when it runs it (its 400 is kept as the camera's problem).
public struct CameraRequest: Sendable {
    public var camera: Camera

    public static let maxBytes = 64 << 10
    static let streamKeys: Set<String> = [
        "id", "source", "model", "loop", "realtime", "track", "infer_every", "motion", "analytics", "record",
    ]

    /// Decodes `body`; `nodes` are the names a `node` may give. Throws one line naming the key.
    public init(json body: Data, nodes: Set<String>) throws(CameraProblem) {
        guard body.count <= Self.maxBytes else { throw CameraProblem("request body over \(Self.maxBytes) bytes") }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw CameraProblem("the body must be a JSON object")
        }
        for key in object.keys.sorted() where !Self.streamKeys.contains(key) && key != "node" && key != "fps" {
            throw CameraProblem("\(key): unknown key")
        }
        var spec = object
        spec["node"] = nil
        spec["fps"] = nil
        let id: String
        if let given = object["id"] {
            guard let text = given as? String, StreamSpec.isValidID(text) else {
                throw CameraProblem("id: must be 1-64 of A-Z a-z 0-9 _ -")
            }
            id = text
        } else {
            id = "cam-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            spec["id"] = id
        }
        guard let source = object["source"] as? String, !source.isEmpty, source.count <= 4096 else {
            throw CameraProblem("source: missing")
        }
        _ = source
        guard let model = object["model"] as? String, !model.isEmpty, model.count <= 256 else {
            throw CameraProblem("model: missing")
        }
        let placement = try Self.placement(object["node"], nodes: nodes)
        var fps = 25.0
        if let given = object["fps"] {
            guard let n = given as? Double, n > 0, n <= 240 else { throw CameraProblem("fps: must be within (0, 240]") }
            fps = n
        }
        let every = (object["infer_every"] as? Int).map { max(1, $0) } ?? 1
        guard let encoded = try? JSONSerialization.data(withJSONObject: spec, options: [.sortedKeys]) else {
            throw CameraProblem("the body cannot be encoded again")
        }
        camera = Camera(id: id, spec: encoded, model: model, need: fps / Double(every), placement: placement)
    }

    /// `node`: absent or `auto` (nil), or a known node's name.
    static func placement(_ value: Any?, nodes: Set<String>) throws(CameraProblem) -> String? {
        guard let value else { return nil }
        guard let name = value as? String else { throw CameraProblem("node: must be a node's name or auto") }
        if name == "auto" { return nil }
        guard nodes.contains(name) else {
            throw CameraProblem("node: no node '\(name.prefix(64))' (known: \(nodes.sorted().joined(separator: ", ")))")
        }
        return name
    }
}

/// A camera request refused: one line naming the key.
public struct CameraProblem: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
