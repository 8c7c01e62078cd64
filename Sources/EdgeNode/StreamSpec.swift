import Analytics
import Core
import Foundation
import ModelRegistry
import Runtime

/// One stream as a config entry or a `POST /api/v1/streams` body gives it.
///
/// Decoded from either (YAML with `YAMLDecoder`, JSON with `JSONDecoder`), with the model repository
/// as the decoding configuration, and checked as untrusted input on the way: no unknown key, a valid
/// id if one is given, a source that is a URL or a readable file, a model that resolves.
public struct StreamSpec: Sendable, Equatable {
    /// Its name (`[A-Za-z0-9_-]{1,64}`); nil in a request body: one is made up.
    public var id: String?
    /// A file path or an `rtsp://`, `http://`, `udp://`... URL.
    public var source: String
    /// The model as given (a path `run --model` takes, or a name in the repository).
    public var model: String
    /// The model folder or file it resolves to: its real path (`ModelRepository.canonicalPath`), the
    /// one identity of the model however it is spelled.
    public var modelPath: String
    /// Replay a file from its start at its end (a camera simulated from a file).
    public var loop = false
    /// Pace a file at its native frame rate.
    public var realtime = false
    /// Track objects across frames (`track: true`): each detection carries its track id.
    public var track = false
    /// With `track`: the detector runs on every `inferEvery`-th frame (`infer_every`, 1...300), the
    /// tracker answers the others.
    public var inferEvery = 1
    /// With `track`: the batch size manager chooses the interval from the load (`infer_every: auto`).
    public var inferAuto = false
    /// With `track`: frames of a still scene are left to the tracker (`motion: true`).
    public var motion = false
    /// With `track`: lines and zones watched on its tracks (`analytics:`); nil: none.
    public var analytics: AnalyticsSpec? = nil
    /// With `analytics`: a clip of each event, `pre_s` before it to `post_s` after (`record:`);
    /// nil: none.
    public var record: ClipSettings? = nil

    /// The stream's tracking, as the pipeline takes it; nil when not tracked.
    public var tracking: TrackingSettings? {
        guard track else { return nil }
        var settings = TrackingSettings(inferEvery: inferEvery, auto: inferAuto, motion: motion)
        settings.analytics = analytics
        return settings
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

extension StreamSpec: DecodableWithConfiguration {
    /// What an entry is checked against: the model repository in which a model given by its name is
    /// looked up (nil: none), and the sources allowed (nil: only the text is checked here; the
    /// service checks the rest when the stream is added).
    public struct Context: Sendable {
        /// The model repository.
        public var repository: String?
        /// The sources allowed.
        public var sources: SourcePolicy?

        /// A context as given.
        public init(repository: String?, sources: SourcePolicy?) {
            self.repository = repository
            self.sources = sources
        }
    }

    /// The repository and the sources allowed.
    public typealias DecodingConfiguration = Context

    /// The keys an entry may have.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, source, model, loop, realtime, track, motion, analytics, record
        case inferEvery = "infer_every"
    }

    /// Reads and checks an entry; a problem is thrown as one line naming its key.
    public init(from decoder: any Decoder, configuration context: Context) throws {
        let repository = context.repository
        let fields = try decoder.mapping(CodingKeys.self)
        let id = try fields.string(.id)
        if let id, !Self.isValidID(id) {
            throw fields.issue(.id, "'\(id.prefix(80))' is not a valid id: use 1 to 64 of A-Z a-z 0-9 _ -")
        }
        guard let source = try fields.string(.source), !source.isEmpty else { throw fields.issue(.source, "missing") }
        let refusal = context.sources.map { $0.refusal(source) } ?? SourcePolicy.textProblem(source)
        if let refusal { throw fields.issue(.source, refusal) }
        guard let model = try fields.string(.model), !model.isEmpty else { throw fields.issue(.model, "missing") }
        if let problem = SourcePolicy.textProblem(model) { throw fields.issue(.model, problem) }
        let modelPath: String
        if let repository, !model.contains("/"), isDirectory(repository + "/" + model) {
            modelPath = repository + "/" + model
        } else if FileManager.default.fileExists(atPath: model) {
            modelPath = model
        } else {
            let where_ = repository.map { " nor a model in \($0)" } ?? ""
            throw fields.issue(.model, "no such model: '\(model)' is not a path\(where_)")
        }
        let track = try fields.bool(.track) ?? false
        let interval = try Self.interval(fields)
        if interval != nil && !track { throw fields.issue(.inferEvery, "needs track: true") }
        let motion = try fields.bool(.motion) ?? false
        if motion && !track { throw fields.issue(.motion, "needs track: true") }
        let analytics = fields.has(.analytics) ? try fields.decode(AnalyticsEntry.self, forKey: .analytics).spec : nil
        if analytics != nil && !track { throw fields.issue(.analytics, "needs track: true") }
        let record = fields.has(.record) ? try fields.decode(RecordEntry.self, forKey: .record).settings : nil
        if record != nil && analytics == nil { throw fields.issue(.record, "needs analytics: (clips are of events)") }
        self.init(
            id: id, source: source, model: model, modelPath: ModelRepository.canonicalPath(modelPath),
            loop: try fields.bool(.loop) ?? false,
            realtime: try fields.bool(.realtime) ?? false, track: track, inferEvery: interval?.every ?? 1,
            inferAuto: interval?.auto ?? false, motion: motion, analytics: analytics, record: record)
    }

    /// `infer_every`: a whole number of frames within 1...300, or `auto`; nil when not given.
    private static func interval(_ fields: KeyedDecodingContainer<CodingKeys>) throws(ConfigIssue) -> (
        every: Int, auto: Bool
    )? {
        guard fields.has(.inferEvery) else { return nil }
        let range = 1...TrackingSettings.maxInterval
        let message = "must be a whole number of frames within \(range), or auto"
        if let n = try? fields.decode(Int.self, forKey: .inferEvery) {
            guard range.contains(n) else { throw fields.issue(.inferEvery, message) }
            return (n, false)
        }
        guard (try? fields.decode(String.self, forKey: .inferEvery)) == "auto" else {
            throw fields.issue(.inferEvery, message)
        }
        return (1, true)
    }
}

extension StreamSpec {
    /// A request body (`POST /api/v1/streams`) as a stream entry: JSON decoded (`JSONDecoder`) into a
    /// `StreamSpec`, checked as a config entry is, but for its source, which `EdgeService.add` checks
    /// against the node's `sources` policy (or `sources`, when given).
    public static func fromJSON(
        _ text: String, repository: String?, sources: SourcePolicy? = nil
    ) throws(ConfigError) -> StreamSpec {
        let file = "request body"
        let context = Context(repository: repository, sources: sources)
        do {
            return try JSONDecoder().decode(StreamSpec.self, from: Data(text.utf8), configuration: context)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw ConfigError(file: file, key: nil, "not JSON")
        } catch {
            let issue = ConfigIssue(error)
            // A problem of the whole body: it is not an object.
            guard issue.key != nil else {
                throw ConfigError(file: file, key: nil, "must be a JSON object like a config stream entry")
            }
            throw ConfigError(file: file, issue)
        }
    }
}
