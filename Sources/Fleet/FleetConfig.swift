import EdgeNode
import Foundation
import Yams

/// `batchline fleet --config fleet.yaml`: the fleet service's own config.
///
/// ```yaml
/// server: { host: 127.0.0.1, port: 8090, token_file: out/fleet.token }
/// state: out/fleet/state.sqlite          # the desired state (cameras and placements), durable
/// nodes:
///   - { name: edge-01, url: "http://10.0.0.11:8080", token_file: secrets/edge-01.token }
/// discover: { dns: batchline-nodes.batchline.svc, port: 8080, token_file: /var/run/secrets/node-token }
/// failover_s: 30                          # a node down this long has its cameras moved
/// models: { repository: models }          # where rollouts take versions from
/// ```
/// With `models.repository`, a rollout's version comes from there, and a node that does not hold
/// it (one with a repository of its own) is sent it first (`PUT /api/v1/models/{name}/versions/{v}`);
/// without it, the nodes must share one repository that holds it.
/// `discover` finds nodes besides `nodes`: every address the name resolves to (a headless
/// Service's, one per node pod) is asked its name (`GET /api/v1/system`), every 10 s.
/// Every key is checked as `serve`'s are: an unknown key, a wrong type, a duplicate name is refused
/// with one line naming the file and the key.
public struct FleetConfig: Sendable, Equatable {
    /// One edge node: a `batchline serve` the fleet manages (every stream on it is the fleet's).
    public struct Node: Sendable, Equatable {
        /// `[A-Za-z0-9_-]{1,64}`, unique.
        public var name: String
        /// Its control plane, `http://HOST:PORT`.
        public var url: String
        /// Its bearer token's file (read at start), for the routes that change it.
        public var tokenFile: String?
    }

    /// Nodes found by a DNS name's addresses (a headless Service), all with one token.
    public struct Discovery: Sendable, Equatable {
        public var dns: String
        public var port: Int
        public var tokenFile: String?
        /// Seconds between lookups.
        public var every = 10.0
    }

    public var file = ""
    public var discover: Discovery?
    public var host = "127.0.0.1"
    public var port = 8090
    /// The fleet's own bearer token for its mutating routes (nil: none asked for).
    public var tokenFile: String? = "out/fleet.token"
    /// Where the desired state lives.
    public var statePath = "out/fleet/state.sqlite"
    public var nodes: [Node] = []
    /// Seconds a node may be down before its cameras are moved to others.
    public var failover = 30.0
    /// A node that has not answered for this long is `down` (polls every `pollInterval`).
    public var downAfter = 6.0
    public var pollInterval = 2.0
    /// The repository rollouts take versions from (`models.repository`); nil: the nodes' own.
    public var repository: String?

    public static let maxNodes = 256
    public static let maxFileBytes = 1 << 20

    public init() {}

    /// Reads and checks `path`; throws the first problem.
    public static func load(path: String) throws(ConfigError) -> FleetConfig {
        switch ConfigFile.read(path, maxBytes: maxFileBytes) {
        case .success(let text): return try parse(yaml: text, file: path)
        case .failure(let problem): throw problem
        }
    }

    /// Parses and checks `yaml` (from `file`, for the messages); throws the first problem.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> FleetConfig {
        var config = FleetConfig()
        config.file = file
        let root: Yams.Node
        switch ConfigFile.compose(yaml, file: file, maxBytes: maxFileBytes, maxNodes: 100_000) {
        case .success(let node?): root = node
        case .success(nil): throw ConfigError(file: file, key: nil, "empty: give at least nodes:")
        case .failure(let problem): throw problem
        }
        let document: Document
        do {
            document = try YAMLDecoder().decode(Document.self, from: root)
        } catch {
            throw ConfigError(file: file, ConfigIssue(error))
        }
        if let server = document.server {
            config.host = server.host ?? config.host
            config.port = server.port ?? config.port
            config.tokenFile = server.tokenFile.map { $0.isEmpty ? nil : $0 } ?? config.tokenFile
        }
        config.statePath = document.state ?? config.statePath
        config.nodes = document.nodes ?? []
        config.discover = document.discover
        config.failover = document.failover ?? config.failover
        config.repository = document.models?.repository
        guard !config.nodes.isEmpty || config.discover != nil else {
            throw ConfigError(file: file, key: "nodes", "give nodes, discover, or both")
        }
        return config
    }

    /// The document's sections.
    struct Document: Decodable {
        var server: ServerSection?
        var state: String?
        var nodes: [Node]?
        var discover: Discovery?
        var failover: Double?
        var models: ModelsSection?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case server, state, nodes, discover, models
            case failover = "failover_s"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            server = try c.has(.server) ? c.decode(ServerSection.self, forKey: .server) : nil
            state = try c.string(.state)
            if state?.isEmpty == true { throw c.issue(.state, "must name a file") }
            if c.has(.nodes) {
                let entries = try c.decode([NodeEntry].self, forKey: .nodes).map(\.node)
                guard entries.count <= FleetConfig.maxNodes else {
                    throw c.issue(.nodes, "at most \(FleetConfig.maxNodes) nodes")
                }
                var names = Set<String>()
                for (i, node) in entries.enumerated() where !names.insert(node.name).inserted {
                    throw ConfigIssue(key: "nodes[\(i)].name", "duplicate name '\(node.name)'")
                }
                nodes = entries
            }
            discover = try c.has(.discover) ? c.decode(DiscoveryEntry.self, forKey: .discover).discovery : nil
            models = try c.has(.models) ? c.decode(ModelsSection.self, forKey: .models) : nil
            failover = try c.number(.failover)
            if let f = failover, !(f >= 5 && f <= 86_400) {
                throw c.issue(.failover, "must be within 5...86400 seconds")
            }
        }
    }

    struct DiscoveryEntry: Decodable {
        let discovery: Discovery

        enum CodingKeys: String, CodingKey, CaseIterable {
            case dns, port
            case tokenFile = "token_file"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            guard let dns = try c.string(.dns) else { throw c.issue(.dns, "missing") }
            let allowed = dns.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E
                    || b == 0x2D
            }
            guard allowed, (1...253).contains(dns.utf8.count) else { throw c.issue(.dns, "must be a DNS name") }
            guard let port = try c.int(.port, in: 1...65_535) else { throw c.issue(.port, "missing") }
            discovery = Discovery(dns: dns, port: port, tokenFile: try c.string(.tokenFile))
        }
    }

    struct ModelsSection: Decodable {
        var repository: String

        enum CodingKeys: String, CodingKey, CaseIterable { case repository }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            guard let path = try c.string(.repository), !path.isEmpty else { throw c.issue(.repository, "missing") }
            repository = path
        }
    }

    struct ServerSection: Decodable {
        var host: String?
        var port: Int?
        var tokenFile: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case host, port
            case tokenFile = "token_file"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            host = try c.string(.host)
            port = try c.int(.port, in: 0...65_535)
            tokenFile = try c.has(.tokenFile) ? (try c.string(.tokenFile) ?? "") : nil
        }
    }

    struct NodeEntry: Decodable {
        let node: Node

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, url
            case tokenFile = "token_file"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            guard let name = try c.string(.name) else { throw c.issue(.name, "missing") }
            guard StreamSpec.isValidID(name) else { throw c.issue(.name, "must be 1-64 of A-Z a-z 0-9 _ -") }
            guard let url = try c.string(.url) else { throw c.issue(.url, "missing") }
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil,
                parsed.query == nil, url.count <= 512
            else { throw c.issue(.url, "must be http://HOST:PORT or https://HOST:PORT") }
            let tokenFile = try c.string(.tokenFile)
            node = Node(name: name, url: url.hasSuffix("/") ? String(url.dropLast()) : url, tokenFile: tokenFile)
        }
    }
}
