import Batching
import Core
import Delivery
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
/// output:   { events: out/events, rotate_mb: 64, keep: 3, flush_s: 1, outbox: out/outbox }
/// sinks:    [{ type: mqtt, url: "mqtt://127.0.0.1:1883", topic: batchline }]   # see `SinkSpec`
/// batching: { policy: realtime, sizes: [1, 2, 4, 8, 16] }
/// sources:  { timeout_s: 5, allow_protocols: [tcp], allow_folders: [/srv/videos] }   # see `SourcePolicy`
/// streams:                                  # served by every node that reads this file
///   - { id: entrance, source: assets/vtest.avi, model: pedestrian-ssdlite, loop: true, realtime: true }
/// nodes:                                    # one fleet's file: each node also serves its own part
///   edge-01:
///     streams:
///       - { id: gate-1, source: "rtsp://10.0.0.21:8554/stream", model: pedestrian-ssdlite }
/// ```
/// Relative paths are taken from the working directory, as `batchline run` takes them. Stream ids
/// are unique across the whole file, so that events and metrics name one camera of the fleet.
///
/// The file is decoded with `YAMLDecoder` into one typed section each (`ServerSection`,
/// `OutputSection`, ...: `ServiceConfig+Decoding.swift`), which refuse unknown keys and check their
/// ranges: `port` 0...65535, `rotate_mb` 1...1048576, `keep` 1...100, at most 16 `sizes` within
/// 1...256, `latency_slo_ms` within (0, 60000], `timeout_s` within (0, 3600], at most 64
/// `allow_protocols` and `allow_folders`; and a node serves at most `EdgeService.maxStreams`
/// streams, the shared ones and its own. The file is at most `maxFileBytes`, its YAML at most
/// `maxNodes` nodes once aliases are expanded. What `serve` checks as it starts (the events folder,
/// the device, the models) is in `ServiceConfig+Start.swift`.
public struct ServiceConfig: Sendable, Equatable {
    /// Address to listen on.
    public var host = "127.0.0.1"
    /// Port to listen on (0: any free one, printed at start).
    public var port = 8080
    /// A file holding the bearer token that mutating routes need (made, owner-only, if missing);
    /// nil: no token asked.
    public var tokenFile: String?
    /// The HTTP server's limits (`server.max_connections`, `idle_timeout_s`, ...).
    public var serverLimits = ServerLimits()
    /// A model repository: streams may name a model there by its name.
    public var repository: String?
    /// Whether a version that appears in the repository swaps in on its own (`models.watch`; nil:
    /// yes, for a model served at its latest version); false under the fleet, which activates the
    /// versions it rolls out.
    public var watch: Bool?
    /// Folder for the events files: `<events>/<stream id>.jsonl`.
    public var eventsFolder = "out/events"
    /// An events file is rotated past this many bytes.
    public var rotateBytes = 64 << 20
    /// Rotated files kept per stream.
    public var keep = 3
    /// Seconds between flushes of the events files: what a SIGKILL can take (`output.flush_s`).
    public var eventsFlush = 1.0
    /// Folder of the sinks' outboxes: `<outbox>/<sink name>.sqlite` (`output.outbox`).
    public var outboxFolder = "out/outbox"
    /// The events' snapshots (`output.snapshots`, `snapshots_mb`, `snapshots_max`, `snapshots_age_s`).
    public var snapshots = MediaStoreConfig(folder: "out/snapshots", maxCount: 1000, maxBytes: 256 << 20)
    /// The events' clips (`output.clips`, `clips_mb`, `clips_max`, `clips_age_s`).
    public var clips = MediaStoreConfig(folder: "out/clips", maxCount: 200, maxBytes: 1 << 30)
    /// Where analytics events are delivered besides the events files (`sinks:`).
    public var sinks: [SinkSpec] = []
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
    /// The sources streams may read: files under the config's folder, the working directory and
    /// `sources.allow_folders`; the default protocols and `sources.allow_protocols`.
    public var sourcePolicy = SourcePolicy(folders: [FileManager.default.currentDirectoryPath])
    /// Each model's first stream, as a dotted key (`streams[0].model`), by model path: where a
    /// model that cannot be loaded is named.
    var modelKeys: [String: String] = [:]
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

    /// The largest config file read: 1 MiB (64 streams take a few kilobytes).
    public static let maxFileBytes = 1 << 20
    /// The most YAML nodes a config may hold, each alias counted as the nodes it repeats: what
    /// stops an alias bomb (a few lines whose nested aliases expand to billions of nodes).
    public static let maxNodes = 100_000

    /// Reads and checks `path`, collecting every problem (`serve --check-config`): one per section,
    /// stream or node that is wrong, in the file's order.
    public static func check(path: String) -> (ServiceConfig, [ConfigError]) {
        switch ConfigFile.read(path, maxBytes: maxFileBytes) {
        case .success(let text): return check(yaml: text, file: path)
        case .failure(let problem): return (ServiceConfig(), [problem])
        }
    }

    /// Parses and checks `yaml` (from `file`, for the messages); throws the first problem.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ServiceConfig {
        let (config, problems) = check(yaml: yaml, file: file)
        if let first = problems.first { throw first }
        return config
    }

    /// Parses and checks `yaml`, collecting every problem: the file is decoded (`YAMLDecoder`) into
    /// typed sections, each on its own, so that there is one problem per section, stream or node.
    public static func check(yaml: String, file: String) -> (ServiceConfig, [ConfigError]) {
        var config = ServiceConfig()
        config.file = file
        let root: Node
        switch ConfigFile.compose(yaml, file: file, maxBytes: maxFileBytes, maxNodes: maxNodes) {
        case .success(let node?): root = node
        case .success(nil): return (config, [])
        case .failure(let problem): return (config, [problem])
        }
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent().path
        let document: Document
        do {
            document = try YAMLDecoder().decode(Document.self, from: root, userInfo: [Document.folderKey: folder])
        } catch {
            return (config, [ConfigError(file: file, ConfigIssue(error))])
        }
        var issues = document.issues
        config.apply(document)
        issues += config.streamCountIssues()
        var problems = issues.map { ConfigError(file: file, $0) }
        // Every model named must have a version to serve (its sidecar read; nothing compiled).
        let models = Set(config.allStreams.map(\.modelPath)).sorted()
        for model in models {
            do throws(RepositoryError) {
                _ = try ModelRepository.resolveModelArgument(model)
            } catch {
                problems.append(ConfigError(file: file, key: config.modelKeys[model] ?? "models", "\(error)"))
            }
        }
        return (config, problems)
    }

    /// The nodes of `node`'s tree, an alias counted as the nodes it repeats; counting stops past
    /// `limit` (Yams shares an alias's nodes, so the tree is cheap to hold but not to walk).
    static func nodeCount(_ node: Node, limit: Int) -> Int {
        var count = 0
        var pending = [node]
        while let next = pending.popLast(), count <= limit {
            count += 1
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    pending.append(key)
                    pending.append(value)
                }
            case .sequence(let sequence): pending.append(contentsOf: sequence)
            default: break
            }
        }
        return count
    }

    /// Takes what `document` gives; what it does not keeps its default.
    private mutating func apply(_ document: Document) {
        if let server = document.server {
            host = server.host ?? host
            port = server.port ?? port
            tokenFile = server.tokenFile
            serverLimits = server.limits
        }
        repository = document.models?.repository
        watch = document.models?.watch
        if let output = document.output {
            eventsFolder = output.events ?? eventsFolder
            rotateBytes = output.rotateMB.map { $0 << 20 } ?? rotateBytes
            keep = output.keep ?? keep
            eventsFlush = output.flush?.inSeconds ?? eventsFlush
            outboxFolder = output.outbox ?? outboxFolder
            snapshots = output.snapshots.applied(to: snapshots)
            clips = output.clips.applied(to: clips)
        }
        sinks = document.sinks
        if let batching = document.batching {
            policy = batching.policy ?? policy
            sizes = batching.sizes ?? sizes
            latencySLO = batching.latencySLO?.inSeconds ?? latencySLO
        }
        sourceTimeout = document.sources?.timeout?.inSeconds ?? sourceTimeout
        sourcePolicy = (document.sources ?? SourcesSection.defaults).policy(
            configFolder: URL(fileURLWithPath: file).deletingLastPathComponent().path)
        modelKeys = document.modelKeys
        device = document.device ?? device
        streams = document.streams
        nodes = document.nodes
    }

    /// A node serves at most `EdgeService.maxStreams`: the shared streams and its own together.
    private func streamCountIssues() -> [ConfigIssue] {
        let limit = EdgeService.maxStreams
        if streams.count > limit {
            return [ConfigIssue(key: "streams", "\(streams.count) streams: a node serves at most \(limit)")]
        }
        return nodes.keys.sorted().compactMap { name in
            let own = nodes[name]!.count
            guard streams.count + own > limit else { return nil }
            return ConfigIssue(
                key: "nodes.\(name).streams",
                "node \(name) would serve \(streams.count + own) streams (\(streams.count) shared, \(own) its own): "
                    + "a node serves at most \(limit)")
        }
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

/// A folder of event media (snapshots or clips) and its bounds: files, bytes, seconds.
public struct MediaStoreConfig: Sendable, Equatable {
    public var folder: String
    public var maxCount: Int
    public var maxBytes: Int
    public var maxAge: Double

    public init(folder: String, maxCount: Int, maxBytes: Int, maxAge: Double = 7 * 86400) {
        self.folder = folder
        self.maxCount = maxCount
        self.maxBytes = maxBytes
        self.maxAge = maxAge
    }
}
