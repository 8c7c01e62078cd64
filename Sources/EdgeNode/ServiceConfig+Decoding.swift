import Batching
import Core
import Delivery
import Foundation

// The YAML of `batchline serve --config` as typed values: one `Decodable` type per section, each
// checking its keys, its values' types and their ranges; and the document, which decodes every
// section on its own so that a problem in one does not hide the next.

extension ServiceConfig {
    /// `server: { host, port, token_file }` and the limits (`ServerLimits`).
    struct ServerSection: Decodable, Equatable {
        var host: String?
        var port: Int?
        var tokenFile: String?
        var limits = ServerLimits()

        enum CodingKeys: String, CodingKey, CaseIterable {
            case host, port, tokenFile = "token_file"
            case maxConnections = "max_connections", idleTimeout = "idle_timeout_s"
            case headerTimeout = "header_timeout_s", bodyTimeout = "body_timeout_s"
            case feedWriteTimeout = "feed_write_timeout_s", maxSnapshots = "max_snapshots"
            case maxInferRequests = "max_infer_requests", allowedHosts = "allowed_hosts"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            host = try c.string(.host)
            port = try c.int(.port, in: 0...65535)
            tokenFile = try c.string(.tokenFile)
            var l = ServerLimits()
            l.maxConnections = try c.int(.maxConnections, in: 1...65536) ?? l.maxConnections
            l.idleTimeout = try c.duration(.idleTimeout, atMost: 3600) { .seconds($0) }?.inSeconds ?? l.idleTimeout
            l.headerTimeout =
                try c.duration(.headerTimeout, atMost: 3600) { .seconds($0) }?.inSeconds ?? l.headerTimeout
            l.bodyTimeout = try c.duration(.bodyTimeout, atMost: 3600) { .seconds($0) }?.inSeconds ?? l.bodyTimeout
            l.feedWriteTimeout =
                try c.duration(.feedWriteTimeout, atMost: 600) { .seconds($0) }?.inSeconds ?? l.feedWriteTimeout
            l.maxSnapshots = try c.int(.maxSnapshots, in: 1...64) ?? l.maxSnapshots
            l.maxInferRequests = try c.int(.maxInferRequests, in: 1...64) ?? l.maxInferRequests
            let hosts = try c.optional([StringValue].self, .allowedHosts, else: "must be a list of host names")
            l.allowedHosts = hosts?.map(\.value) ?? []
            guard l.allowedHosts.count <= 64, l.allowedHosts.allSatisfy({ (1...253).contains($0.utf8.count) }) else {
                throw c.issue(.allowedHosts, "must hold at most 64 names of 1 to 253 characters")
            }
            limits = l
        }
    }

    /// `models: { repository, watch }`: a folder that exists; whether new versions swap in.
    struct ModelsSection: Decodable, Equatable {
        var repository: String?
        var watch: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case repository, watch
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            watch = try c.bool(.watch)
            repository = try c.string(.repository)
            if let repository, !isDirectory(repository) {
                throw c.issue(.repository, "no such folder: \(repository)")
            }
        }
    }

    /// `output: { events, rotate_mb, keep, flush_s, outbox, snapshots, snapshots_mb, snapshots_max,
    /// snapshots_age_s, clips, clips_mb, clips_max, clips_age_s }`.
    struct OutputSection: Decodable, Equatable {
        /// The largest `rotate_mb`: 1 TiB (its bytes fit an `Int` with room to spare).
        static let maxRotateMB = 1 << 20
        /// The longest time between flushes of the events files, in seconds.
        static let maxFlushSeconds = 60

        var events: String?
        var rotateMB: Int?
        var keep: Int?
        var flush: Duration?
        var outbox: String?
        var snapshots = MediaStoreEntry()
        var clips = MediaStoreEntry()

        enum CodingKeys: String, CodingKey, CaseIterable {
            case events, rotateMB = "rotate_mb", keep, flush = "flush_s", outbox, snapshots
            case snapshotsMB = "snapshots_mb", snapshotsMax = "snapshots_max", snapshotsAge = "snapshots_age_s"
            case clips, clipsMB = "clips_mb", clipsMax = "clips_max", clipsAge = "clips_age_s"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            events = try c.string(.events)
            if events?.isEmpty == true { throw c.issue(.events, "must name a folder") }
            rotateMB = try c.int(.rotateMB, in: 1...Self.maxRotateMB)
            keep = try c.int(.keep, in: 1...100)
            flush = try c.duration(.flush, atMost: Self.maxFlushSeconds, Duration.seconds)
            outbox = try c.string(.outbox)
            if outbox?.isEmpty == true { throw c.issue(.outbox, "must name a folder") }
            snapshots = try MediaStoreEntry(c, .snapshots, mb: .snapshotsMB, max: .snapshotsMax, age: .snapshotsAge)
            clips = try MediaStoreEntry(c, .clips, mb: .clipsMB, max: .clipsMax, age: .clipsAge)
        }
    }

    /// One store's keys in `output:`: `NAME` (a folder), `NAME_mb`, `NAME_max`, `NAME_age_s`.
    struct MediaStoreEntry: Equatable {
        var folder: String?
        var megabytes: Int?
        var maxCount: Int?
        var age: Duration?

        init() {}

        init<Keys>(
            _ c: KeyedDecodingContainer<Keys>, _ folderKey: Keys, mb: Keys, max: Keys, age ageKey: Keys
        ) throws(ConfigIssue) {
            folder = try c.string(folderKey)
            if folder?.isEmpty == true { throw c.issue(folderKey, "must name a folder") }
            megabytes = try c.int(mb, in: 1...OutputSection.maxRotateMB)
            maxCount = try c.int(max, in: 1...1_000_000)
            age = try c.duration(ageKey, atMost: 365 * 86400, Duration.seconds)
        }

        func applied(to base: MediaStoreConfig) -> MediaStoreConfig {
            MediaStoreConfig(
                folder: folder ?? base.folder, maxCount: maxCount ?? base.maxCount,
                maxBytes: megabytes.map { $0 << 20 } ?? base.maxBytes, maxAge: age?.inSeconds ?? base.maxAge)
        }
    }

    /// `batching: { policy, sizes, latency_slo_ms }`.
    struct BatchingSection: Decodable, Equatable {
        /// What one batch size may be (as `run --batch` and `PUT /api/v1/batching` take it).
        static let sizeRange = 1...256
        /// The most sizes the batch size manager is given to choose from.
        static let maxSizes = 16
        /// The largest latency target, in milliseconds (as `PUT /api/v1/batching` takes it).
        static let maxLatencySLOMilliseconds = 60_000

        var policy: BatchPolicy?
        /// Distinct, ascending.
        var sizes: [Int]?
        var latencySLO: Duration?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case policy, sizes, latencySLO = "latency_slo_ms"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            if let name = try c.string(.policy) {
                guard let policy = BatchPolicy(rawValue: name) else {
                    let all = BatchPolicy.allCases.map(\.rawValue).joined(separator: ", ")
                    throw c.issue(.policy, "unknown policy '\(name.prefix(80))': use one of \(all)")
                }
                self.policy = policy
            }
            if let sizes = try c.ints(.sizes) {
                guard !sizes.isEmpty, sizes.allSatisfy({ Self.sizeRange.contains($0) }) else {
                    throw c.issue(.sizes, "give sizes within \(Self.sizeRange)")
                }
                guard sizes.count <= Self.maxSizes else {
                    throw c.issue(.sizes, "give at most \(Self.maxSizes) sizes, not \(sizes.count)")
                }
                self.sizes = Array(Set(sizes)).sorted()
            }
            latencySLO = try c.duration(.latencySLO, atMost: Self.maxLatencySLOMilliseconds, Duration.milliseconds)
        }
    }

    /// `sources: { timeout_s, allow_protocols, allow_folders }`: how long a live source may stay
    /// silent, and what sources may be opened besides the defaults (`SourcePolicy`).
    struct SourcesSection: Decodable, Equatable {
        /// The longest silence allowed a live source, in seconds: an hour.
        static let maxTimeoutSeconds = 3600
        /// The most entries of `allow_protocols` or `allow_folders`.
        static let maxEntries = 64

        var timeout: Duration?
        /// Protocols allowed besides `SourcePolicy.defaultProtocols`.
        var allowProtocols: [String] = []
        /// Folders files may be in besides the config's own folder and the working directory.
        var allowFolders: [String] = []

        /// No section: the defaults.
        static let defaults = SourcesSection()

        private init() {}

        enum CodingKeys: String, CodingKey, CaseIterable {
            case timeout = "timeout_s", allowProtocols = "allow_protocols", allowFolders = "allow_folders"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(CodingKeys.self)
            timeout = try c.duration(.timeout, atMost: Self.maxTimeoutSeconds, Duration.seconds)
            allowProtocols = try c.strings(.allowProtocols, atMost: Self.maxEntries) ?? []
            for name in allowProtocols {
                guard Self.isProtocolName(name) else {
                    throw c.issue(.allowProtocols, "'\(name.prefix(40))' is not a protocol name (a-z 0-9 + - ., 1-32)")
                }
                guard name != "file" else {
                    throw c.issue(.allowProtocols, "files are allowed by folder: use sources.allow_folders")
                }
            }
            allowFolders = try c.strings(.allowFolders, atMost: Self.maxEntries) ?? []
            for folder in allowFolders where !isDirectory(folder) {
                throw c.issue(.allowFolders, "no such folder: \(folder.prefix(200))")
            }
        }

        /// `[a-z][a-z0-9+.-]{0,31}`.
        static func isProtocolName(_ name: String) -> Bool {
            let b = Array(name.utf8)
            guard (1...32).contains(b.count), (0x61...0x7A).contains(b[0]) else { return false }
            return b.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || "+-.".utf8.contains($0) }
        }

        /// The sources a config with this section allows: files in `configFolder`, the working
        /// directory and `allow_folders`; the default protocols and `allow_protocols`.
        func policy(configFolder: String) -> SourcePolicy {
            SourcePolicy(
                protocols: SourcePolicy.defaultProtocols + allowProtocols,
                folders: [configFolder, FileManager.default.currentDirectoryPath] + allowFolders)
        }
    }

    /// `nodes.<name>: { streams }`.
    enum NodeKeys: String, CodingKey, CaseIterable {
        case streams
    }

    /// The sections of a config file (in the order that an unknown key is told they are known).
    enum Section: String, CaseIterable {
        case server, models, output, batching, sources, device, streams, nodes, sinks
    }

    /// A whole config file: every section that decoded, and one issue for each section, stream or
    /// node that did not, in the file's order. Thrown only for a document that is not a mapping.
    struct Document: Decodable {
        var server: ServerSection?
        var models: ModelsSection?
        var output: OutputSection?
        var batching: BatchingSection?
        var sources: SourcesSection?
        var device: String?
        var streams: [StreamSpec] = []
        var nodes: [String: [StreamSpec]] = [:]
        var sinks: [SinkSpec] = []
        var issues: [ConfigIssue] = []
        /// Each model's first stream (`streams[0].model`), by model path.
        var modelKeys: [String: String] = [:]

        init(from decoder: any Decoder) throws {
            let order = try decoder.givenKeys()
            let top = try decoder.container(keyedBy: AnyCodingKey.self)
            var issues: [ConfigIssue] = []
            /// Runs one part's decoding; its problem is kept and the next part is decoded.
            func part(_ body: () throws -> Void) {
                do { try body() } catch { issues.append(ConfigIssue(error)) }
            }
            // The repository and the sources allowed first: streams name a model in one and a
            // source the other allows, wherever the sections are.
            var modelsIssue: ConfigIssue?
            do {
                models = try top.decodeIfPresent(ModelsSection.self, forKey: AnyCodingKey("models"))
            } catch {
                modelsIssue = ConfigIssue(error)
            }
            var sourcesIssue: ConfigIssue?
            do {
                sources = try top.decodeIfPresent(SourcesSection.self, forKey: AnyCodingKey("sources"))
            } catch {
                sourcesIssue = ConfigIssue(error)
            }
            let folder = decoder.userInfo[Self.folderKey] as? String ?? FileManager.default.currentDirectoryPath
            let context = StreamSpec.Context(
                repository: models?.repository,
                sources: sourcesIssue == nil ? (sources ?? SourcesSection.defaults).policy(configFolder: folder) : nil)
            var ids: Set<String> = []
            for name in order {
                let key = AnyCodingKey(name)
                guard let section = Section(rawValue: name) else {
                    issues.append(.unknownKey(name, at: top.codingPath, known: Section.allCases.map(\.rawValue)))
                    continue
                }
                switch section {
                case .server: part { server = try top.decodeIfPresent(ServerSection.self, forKey: key) }
                case .models: if let modelsIssue { issues.append(modelsIssue) }
                case .output: part { output = try top.decodeIfPresent(OutputSection.self, forKey: key) }
                case .batching: part { batching = try top.decodeIfPresent(BatchingSection.self, forKey: key) }
                case .sources: if let sourcesIssue { issues.append(sourcesIssue) }
                case .device: part { device = try top.string(key) }
                case .sinks: sinks = ServiceConfig.sinks(top, key, issues: &issues)
                case .streams:
                    streams = Self.streams(top, key, context: context, ids: &ids, issues: &issues, models: &modelKeys)
                case .nodes:
                    part {
                        guard top.has(key) else { return }
                        let nodes = try top.superDecoder(forKey: key)
                        for name in try nodes.givenKeys() {
                            part {
                                self.nodes[name] = try Self.node(
                                    name, in: nodes, context: context, ids: &ids, issues: &issues,
                                    models: &modelKeys)
                            }
                        }
                    }
                }
            }
            self.issues = issues
        }

        /// Where the decoder's `userInfo` holds the config file's folder (files may be in it).
        static let folderKey = CodingUserInfoKey(rawValue: "batchline.configFolder")!

        /// Node `name`'s own streams (none when it names none), or the problem of its name or keys.
        static func node(
            _ name: String, in nodes: any Decoder, context: StreamSpec.Context, ids: inout Set<String>,
            issues: inout [ConfigIssue], models: inout [String: String]
        ) throws -> [StreamSpec] {
            let key = AnyCodingKey(name)
            let all = try nodes.container(keyedBy: AnyCodingKey.self)
            guard isValidNodeName(name) else {
                throw all.issue(key, "'\(name.prefix(80))' is not a Kubernetes node name (lower-case DNS name)")
            }
            guard all.has(key) else { return [] }
            let node = try all.superDecoder(forKey: key).mapping(NodeKeys.self)
            return streams(node, .streams, context: context, ids: &ids, issues: &issues, models: &models)
        }

        /// The list of streams at `key`, each entry checked on its own (one issue each); ids unique
        /// across the file (`ids`: those seen so far).
        static func streams<Key>(
            _ container: KeyedDecodingContainer<Key>, _ key: Key, context: StreamSpec.Context, ids: inout Set<String>,
            issues: inout [ConfigIssue], models: inout [String: String]
        ) -> [StreamSpec] {
            guard container.has(key) else { return [] }
            guard var list = try? container.nestedUnkeyedContainer(forKey: key) else {
                issues.append(container.issue(key, "must be a list of streams"))
                return []
            }
            var out: [StreamSpec] = []
            while !list.isAtEnd {
                let at = container.codingPath + [key, AnyCodingKey(intValue: list.currentIndex)]
                // `superDecoder` moves on to the next entry, whether this one decodes or not.
                guard let entry = try? list.superDecoder() else { break }
                do {
                    let spec = try StreamSpec(from: entry, configuration: context)
                    guard let id = spec.id else { throw ConfigIssue(at: at + [AnyCodingKey("id")], "missing") }
                    guard ids.insert(id).inserted else {
                        throw ConfigIssue(at: at + [AnyCodingKey("id")], "duplicate id '\(id)'")
                    }
                    out.append(spec)
                    if models[spec.modelPath] == nil {
                        models[spec.modelPath] = ConfigIssue.dotted(at + [AnyCodingKey("model")])
                    }
                } catch {
                    issues.append(ConfigIssue(error))
                }
            }
            return out
        }
    }
}
