import Batching
import Foundation
import ModelRegistry
import Yams

/// What `batchline serve --config FILE` runs: the server, the models, where events go, how to
/// batch, and the streams to start with. Read from YAML and checked as untrusted input: an unknown
/// key, a wrong type, a stream without a source, a duplicate id or a file that is missing is refused
/// with one line naming the file and the key.
///
/// ```yaml
/// server:   { host: 127.0.0.1, port: 8080 }
/// models:   { repository: models }          # streams may name a model by its repository name
/// output:   { events: out/events, rotate_mb: 64, keep: 3 }
/// batching: { policy: realtime, sizes: [1, 2, 4, 8, 16] }
/// sources:  { timeout_s: 5 }                # a live source silent this long is reconnected
/// streams:                                  # served by every node that reads this file
///   - { id: entrance, source: assets/vtest.avi, model: pedestrian-ssdlite, loop: true, realtime: true }
/// nodes:                                    # one fleet's file: each node also serves its own part
///   edge-01:
///     streams:
///       - { id: gate-1, source: "rtsp://10.0.0.21:8554/stream", model: pedestrian-ssdlite }
/// ```
/// Relative paths are taken from the working directory, as `batchline run` takes them. Stream ids
/// are unique across the whole file, so that events and metrics name one camera of the fleet.
public struct ServiceConfig: Sendable, Equatable {
    /// Address to listen on.
    public var host = "127.0.0.1"
    /// Port to listen on (0: any free one, printed at start).
    public var port = 8080
    /// A file holding the bearer token that mutating routes need (made, owner-only, if missing);
    /// nil: no token asked.
    public var tokenFile: String?
    /// A model repository: streams may name a model there by its name.
    public var repository: String?
    /// Folder for the events files: `<events>/<stream id>.jsonl`.
    public var eventsFolder = "out/events"
    /// An events file is rotated past this many bytes.
    public var rotateBytes = 64 << 20
    /// Rotated files kept per stream.
    public var keep = 3
    /// How the batch size is chosen.
    public var policy: BatchPolicy = .realtime
    /// Sizes the batch size manager may choose.
    public var sizes = [1, 2, 4, 8, 16]
    /// p99 latency target in seconds (slo and aimd policies).
    public var latencySLO = 0.5
    /// The OpenVINO device.
    public var device = "CPU"
    /// Seconds a live source may stay silent before it is reconnected.
    public var sourceTimeout = 5.0
    /// The streams to start with: the shared ones, and those of `node` once `selecting(node:)` chose it.
    public var streams: [StreamSpec] = []
    /// Each node's own streams (`nodes.<name>.streams`), by node name.
    public var nodes: [String: [StreamSpec]] = [:]
    /// The node this config was narrowed to, if any.
    public var node: String?
    /// The file it came from.
    public var file = "<config>"

    /// Defaults, no streams.
    public init() {}

    /// Reads and checks `path`; throws the first problem.
    public static func load(path: String) throws(ConfigError) -> ServiceConfig {
        let (config, problems) = check(path: path)
        if let first = problems.first { throw first }
        return config
    }

    /// Reads and checks `path`, collecting every problem (`serve --check-config`): one per section,
    /// stream or node that is wrong, in the file's order.
    public static func check(path: String) -> (ServiceConfig, [ConfigError]) {
        guard FileManager.default.fileExists(atPath: path) else {
            return (ServiceConfig(), [ConfigError(file: path, key: nil, "no such file")])
        }
        if isDirectory(path) {
            return (ServiceConfig(), [ConfigError(file: path, key: nil, "is a folder, not a file")])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return (ServiceConfig(), [ConfigError(file: path, key: nil, "cannot read it (permissions?)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return (ServiceConfig(), [ConfigError(file: path, key: nil, "cannot read it as UTF-8 text")])
        }
        return check(yaml: text, file: path)
    }

    /// Parses and checks `yaml` (from `file`, for the messages); throws the first problem.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ServiceConfig {
        let (config, problems) = check(yaml: yaml, file: file)
        if let first = problems.first { throw first }
        return config
    }

    /// Parses and checks `yaml`, collecting every problem.
    public static func check(yaml: String, file: String) -> (ServiceConfig, [ConfigError]) {
        var config = ServiceConfig()
        config.file = file
        var problems: [ConfigError] = []
        /// Runs one section's checks; its first problem is kept and the next section is checked.
        func section(_ body: () throws(ConfigError) -> Void) {
            do throws(ConfigError) { try body() } catch { problems.append(error) }
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: yaml)
        } catch {
            let text = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            return (config, [ConfigError(file: file, key: nil, "not valid YAML: \(text)")])
        }
        guard let root else { return (config, []) }
        let top: Fields
        do throws(ConfigError) { top = try Fields(root, at: nil, file: file) } catch { return (config, [error]) }
        section { () throws(ConfigError) in
            try top.only(["server", "models", "output", "batching", "sources", "device", "streams", "nodes"])
        }
        section { () throws(ConfigError) in
            guard let server = try top.table("server") else { return }
            try server.only(["host", "port", "token_file"])
            config.tokenFile = try server.string("token_file")
            config.host = try server.string("host") ?? config.host
            if let port = try server.int("port") {
                guard (0...65535).contains(port) else { throw server.error("port", "must be within 0...65535") }
                config.port = port
            }
        }
        section { () throws(ConfigError) in
            guard let models = try top.table("models") else { return }
            try models.only(["repository"])
            config.repository = try models.string("repository")
            if let repo = config.repository, !isDirectory(repo) {
                config.repository = nil
                throw models.error("repository", "no such folder: \(repo)")
            }
        }
        section { () throws(ConfigError) in
            guard let output = try top.table("output") else { return }
            try output.only(["events", "rotate_mb", "keep"])
            config.eventsFolder = try output.string("events") ?? config.eventsFolder
            if let mb = try output.int("rotate_mb") {
                guard mb >= 1 else { throw output.error("rotate_mb", "must be at least 1") }
                config.rotateBytes = mb << 20
            }
            if let keep = try output.int("keep") {
                guard (1...100).contains(keep) else { throw output.error("keep", "must be within 1...100") }
                config.keep = keep
            }
        }
        section { () throws(ConfigError) in
            guard let batching = try top.table("batching") else { return }
            try batching.only(["policy", "sizes", "latency_slo_ms"])
            if let name = try batching.string("policy") {
                guard let policy = BatchPolicy(rawValue: name) else {
                    let all = BatchPolicy.allCases.map(\.rawValue).joined(separator: ", ")
                    throw batching.error("policy", "unknown policy '\(name)': use one of \(all)")
                }
                config.policy = policy
            }
            if let sizes = try batching.ints("sizes") {
                guard !sizes.isEmpty, sizes.allSatisfy({ (1...256).contains($0) }) else {
                    throw batching.error("sizes", "give sizes within 1...256")
                }
                config.sizes = Array(Set(sizes)).sorted()
            }
            if let ms = try batching.double("latency_slo_ms") {
                guard ms > 0 else { throw batching.error("latency_slo_ms", "must be positive") }
                config.latencySLO = ms / 1000
            }
        }
        section { () throws(ConfigError) in
            guard let sources = try top.table("sources") else { return }
            try sources.only(["timeout_s"])
            if let t = try sources.double("timeout_s") {
                guard t > 0 else { throw sources.error("timeout_s", "must be positive") }
                config.sourceTimeout = t
            }
        }
        section { () throws(ConfigError) in config.device = try top.string("device") ?? config.device }

        // Streams, shared and per node: each entry checked on its own; ids unique across the file.
        var seen: Set<String> = []
        func streams(_ list: Any?, at key: String) -> [StreamSpec] {
            guard let list, !(list is NSNull) else { return [] }
            guard let entries = list as? [Any] else {
                problems.append(ConfigError(file: file, key: key, "must be a list of streams"))
                return []
            }
            var out: [StreamSpec] = []
            for (i, entry) in entries.enumerated() {
                section { () throws(ConfigError) in
                    let at = "\(key)[\(i)]"
                    let spec = try StreamSpec.parse(entry, at: at, file: file, repository: config.repository)
                    guard let id = spec.id else { throw ConfigError(file: file, key: at + ".id", "missing") }
                    guard seen.insert(id).inserted else {
                        throw ConfigError(file: file, key: at + ".id", "duplicate id '\(id)'")
                    }
                    out.append(spec)
                }
            }
            return out
        }
        config.streams = streams(top.values["streams"], at: "streams")
        section { () throws(ConfigError) in
            guard let nodes = try top.table("nodes") else { return }
            for name in nodes.values.keys.sorted() {
                section { () throws(ConfigError) in
                    guard isValidNodeName(name) else {
                        throw nodes.error(name, "'\(name)' is not a Kubernetes node name (lower-case DNS name)")
                    }
                    guard let node = try nodes.table(name) else {
                        config.nodes[name] = []
                        return
                    }
                    try node.only(["streams"])
                    config.nodes[name] = streams(node.values["streams"], at: node.key("streams"))
                }
            }
        }
        // Every model named must have a version to serve (its sidecar read; nothing compiled).
        let models = Set((config.streams + config.nodes.values.joined()).map(\.modelPath)).sorted()
        for model in models {
            section { () throws(ConfigError) in
                do throws(RepositoryError) {
                    _ = try ModelRepository.resolveModelArgument(model)
                } catch {
                    throw ConfigError(file: file, key: "models", "\(error)")
                }
            }
        }
        return (config, problems)
    }

    /// This config as node `name` serves it: the shared streams and the node's own. A node the file
    /// does not name serves the shared streams only (`hasOwnPart` tells).
    public func selecting(node name: String) -> ServiceConfig {
        var copy = self
        copy.node = name
        copy.streams += nodes[name] ?? []
        return copy
    }

    /// Whether the file names `name` under `nodes`.
    public func hasOwnPart(node name: String) -> Bool { nodes[name] != nil }

    /// Every stream the file assigns, shared or to a node.
    public var allStreams: [StreamSpec] { streams + nodes.keys.sorted().flatMap { nodes[$0]! } }

    /// A Kubernetes node name: a lower-case DNS subdomain (RFC 1123), at most 253 characters.
    public static func isValidNodeName(_ name: String) -> Bool {
        guard (1...253).contains(name.utf8.count) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let b = Array(label.utf8)
            guard (1...63).contains(b.count) else { return false }
            func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) }
            return alnum(b.first!) && alnum(b.last!) && b.allSatisfy { alnum($0) || $0 == 0x2D }
        }
    }
}

/// One stream as a config entry or a `POST /api/v1/streams` body gives it.
public struct StreamSpec: Sendable, Equatable {
    /// Its name (`[A-Za-z0-9_-]{1,64}`); nil in a request body: one is made up.
    public var id: String?
    /// A file path or an `rtsp://`, `http://`, `udp://`... URL.
    public var source: String
    /// The model as given (a path `run --model` takes, or a name in the repository).
    public var model: String
    /// The model folder or file it resolves to.
    public var modelPath: String
    /// Replay a file from its start at its end (a camera simulated from a file).
    public var loop = false
    /// Pace a file at its native frame rate.
    public var realtime = false

    /// The keys an entry may have.
    static let keys = ["id", "source", "model", "loop", "realtime"]

    /// Checks an entry (parsed YAML or JSON) found at `key` of `file`.
    static func parse(_ value: Any, at key: String?, file: String, repository: String?) throws(ConfigError)
        -> StreamSpec
    {
        let fields = try Fields(value, at: key, file: file)
        try fields.only(keys)
        let id = try fields.string("id")
        if let id, !isValidID(id) {
            throw fields.error("id", "'\(id)' is not a valid id: use 1 to 64 of A-Z a-z 0-9 _ -")
        }
        guard let source = try fields.string("source"), !source.isEmpty else { throw fields.error("source", "missing") }
        if !source.contains("://") || source.hasPrefix("file:") {
            let path = source.hasPrefix("file:") ? String(source.dropFirst(5)) : source
            guard FileManager.default.fileExists(atPath: path) else {
                throw fields.error("source", "no such file: \(path)")
            }
            guard FileManager.default.isReadableFile(atPath: path), !isDirectory(path) else {
                throw fields.error("source", "not a readable file: \(path)")
            }
        }
        guard let model = try fields.string("model"), !model.isEmpty else { throw fields.error("model", "missing") }
        let modelPath: String
        if let repository, !model.contains("/"), isDirectory(repository + "/" + model) {
            modelPath = repository + "/" + model
        } else if FileManager.default.fileExists(atPath: model) {
            modelPath = model
        } else {
            let where_ = repository.map { " nor a model in \($0)" } ?? ""
            throw fields.error("model", "no such model: '\(model)' is not a path\(where_)")
        }
        return StreamSpec(
            id: id, source: source, model: model, modelPath: modelPath, loop: try fields.bool("loop") ?? false,
            realtime: try fields.bool("realtime") ?? false)
    }

    /// `[A-Za-z0-9_-]{1,64}`.
    public static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
                    || c == 0x2D
            }
    }
}

/// A config (or request body) that cannot be used: one line naming the file and the key.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or `request body`).
    public let file: String
    /// The key, dotted (`streams[1].id`); nil for the whole file.
    public let key: String?
    /// What is wrong.
    public let message: String

    init(file: String, key: String?, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    /// `file: key: message`.
    public var description: String { [file, key, message].compactMap { $0 }.joined(separator: ": ") }
}

/// A mapping of parsed YAML or JSON, read key by key with the types checked.
struct Fields {
    let values: [String: Any]
    let path: String?
    let file: String

    init(_ value: Any, at path: String?, file: String) throws(ConfigError) {
        guard let values = value as? [String: Any] else {
            throw ConfigError(file: file, key: path, "must be a mapping of keys to values")
        }
        self.values = values
        self.path = path
        self.file = file
    }

    func key(_ name: String) -> String { path.map { "\($0).\(name)" } ?? name }

    func error(_ name: String, _ message: String) -> ConfigError {
        ConfigError(file: file, key: key(name), message)
    }

    /// Refuses keys outside `allowed`.
    func only(_ allowed: [String]) throws(ConfigError) {
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ConfigError(
                file: file, key: key(unknown), "unknown key (known: \(allowed.joined(separator: ", ")))")
        }
    }

    func table(_ name: String) throws(ConfigError) -> Fields? {
        guard let v = values[name], !(v is NSNull) else { return nil }
        return try Fields(v, at: key(name), file: file)
    }

    func string(_ name: String) throws(ConfigError) -> String? {
        guard let v = values[name], !(v is NSNull) else { return nil }
        guard type(of: v) == String.self, let s = v as? String else { throw error(name, "must be a string") }
        return s
    }

    func int(_ name: String) throws(ConfigError) -> Int? {
        guard let v = values[name], !(v is NSNull) else { return nil }
        guard let i = Self.integer(v) else { throw error(name, "must be an integer") }
        return i
    }

    func double(_ name: String) throws(ConfigError) -> Double? {
        guard let v = values[name], !(v is NSNull) else { return nil }
        if let i = Self.integer(v) { return Double(i) }
        guard type(of: v) == Double.self, let d = v as? Double, d.isFinite else {
            throw error(name, "must be a number")
        }
        return d
    }

    func bool(_ name: String) throws(ConfigError) -> Bool? {
        guard let v = values[name], !(v is NSNull) else { return nil }
        guard type(of: v) == Bool.self, let b = v as? Bool else { throw error(name, "must be true or false") }
        return b
    }

    func ints(_ name: String) throws(ConfigError) -> [Int]? {
        guard let v = values[name], !(v is NSNull) else { return nil }
        guard let list = v as? [Any] else { throw error(name, "must be a list of integers") }
        var out: [Int] = []
        for item in list {
            guard let i = Self.integer(item) else { throw error(name, "must be a list of integers") }
            out.append(i)
        }
        return out
    }

    /// Values come from Yams (JSON bodies are parsed as the YAML they are), as Swift's own types.
    private static func integer(_ v: Any) -> Int? {
        guard type(of: v) == Int.self else { return nil }
        return v as? Int
    }
}

func isDirectory(_ path: String) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
}
