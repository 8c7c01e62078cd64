import Analytics
import Delivery
import Foundation
import Runtime

/// A stream's `analytics:` entry, as a config or a request body gives it:
/// `{lines: [{name, from: [x, y], to: [x, y], anchor, classes}], zones: [{name, points: [[x, y], ...],
/// loiter_s, anchor, classes}]}` in pixels of the source frame; unknown keys refused, then the spec's
/// own checks (`AnalyticsSpec.validate`), each one line naming the key.
struct AnalyticsEntry: Decodable {
    let spec: AnalyticsSpec

    enum Keys: String, CodingKey, CaseIterable { case lines, zones }

    init(from decoder: any Decoder) throws {
        let fields = try decoder.mapping(Keys.self)
        var spec = AnalyticsSpec()
        if fields.has(.lines) { spec.lines = try fields.decode([LineEntry].self, forKey: .lines).map(\.line) }
        if fields.has(.zones) { spec.zones = try fields.decode([ZoneEntry].self, forKey: .zones).map(\.zone) }
        do {
            try spec.validate()
        } catch {
            throw ConfigIssue(at: decoder.codingPath, "\(error)")
        }
        self.spec = spec
    }
}

/// One `lines:` entry.
struct LineEntry: Decodable {
    let line: LineSpec

    enum Keys: String, CodingKey, CaseIterable { case name, from, to, anchor, classes }

    init(from decoder: any Decoder) throws {
        let fields = try decoder.mapping(Keys.self)
        guard let name = try fields.string(.name) else { throw fields.issue(.name, "missing") }
        let from = try fields.point(.from)
        let to = try fields.point(.to)
        line = LineSpec(
            name: name, from: from, to: to, anchor: try fields.anchor(.anchor),
            classes: try fields.strings(.classes, atMost: 64).map(Set.init))
    }
}

/// One `zones:` entry.
struct ZoneEntry: Decodable {
    let zone: ZoneSpec

    enum Keys: String, CodingKey, CaseIterable {
        case name, points, anchor, classes
        case loiter = "loiter_s"
    }

    init(from decoder: any Decoder) throws {
        let fields = try decoder.mapping(Keys.self)
        guard let name = try fields.string(.name) else { throw fields.issue(.name, "missing") }
        guard
            let pairs = try fields.optional(
                [[Double]].self, .points, else: "must be a list of [x, y] points")
        else { throw fields.issue(.points, "missing") }
        guard pairs.count <= AnalyticsSpec.maxCorners else {
            throw fields.issue(.points, "at most \(AnalyticsSpec.maxCorners) points")
        }
        guard pairs.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isFinite) }) else {
            throw fields.issue(.points, "each point must be [x, y], two finite numbers")
        }
        zone = ZoneSpec(
            name: name, points: pairs.map { Point($0[0], $0[1]) }, anchor: try fields.anchor(.anchor),
            classes: try fields.strings(.classes, atMost: 64).map(Set.init),
            loiterSeconds: try fields.number(.loiter))
    }
}

extension KeyedDecodingContainer {
    /// `[x, y]`: two finite numbers.
    fileprivate func point(_ key: Key) throws(ConfigIssue) -> Point {
        guard let xy = try optional([Double].self, key, else: "must be [x, y]") else { throw issue(key, "missing") }
        guard xy.count == 2, xy.allSatisfy(\.isFinite) else { throw issue(key, "must be [x, y], two finite numbers") }
        return Point(xy[0], xy[1])
    }

    /// `bottom_centre` (the default), `centre` or `top_centre`.
    fileprivate func anchor(_ key: Key) throws(ConfigIssue) -> Anchor {
        guard let text = try string(key) else { return .bottomCentre }
        guard let anchor = Anchor(rawValue: text) else {
            throw issue(key, "must be one of \(Anchor.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return anchor
    }
}

extension AnalyticsSpec {
    /// A request body (`PUT /api/v1/streams/{id}/analytics`) as a stream's `analytics:` entry:
    /// `{"lines": [...], "zones": [...]}`, checked as a config's is (one line naming the key).
    public static func fromJSON(_ data: Data) throws(ConfigError) -> AnalyticsSpec {
        let file = "request body"
        do {
            return try JSONDecoder().decode(AnalyticsEntry.self, from: data).spec
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw ConfigError(file: file, key: nil, "not JSON")
        } catch {
            let issue = ConfigIssue(error)
            guard issue.key != nil || !issue.message.hasPrefix("must be") else {
                throw ConfigError(
                    file: file, key: nil, "must be a JSON object like {\"lines\": [...], \"zones\": [...]}")
            }
            throw ConfigError(file: file, issue)
        }
    }
}

/// Hands a stream's analytics events and counts to the node's sinks' outboxes.
struct SinkRecorder: AnalyticsRecorder {
    let sinks: EventSinks

    func record(stream: String, events: [AnalyticsEvent], counts: AnalyticsCounts, frameTime: Double) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        sinks.record(stream: stream, events: events, counts: try? encoder.encode(counts), frameTime: frameTime)
    }
}

/// A stream's `record:` entry: `{pre_s, post_s}`, the seconds of video kept before and after each
/// of its events (its clips).
struct RecordEntry: Decodable {
    let settings: ClipSettings

    enum Keys: String, CodingKey, CaseIterable {
        case pre = "pre_s"
        case post = "post_s"
    }

    init(from decoder: any Decoder) throws {
        let fields = try decoder.mapping(Keys.self)
        let settings = ClipSettings(
            preSeconds: try fields.number(.pre) ?? 5, postSeconds: try fields.number(.post) ?? 5)
        if let problem = settings.problem { throw ConfigIssue(at: decoder.codingPath, problem) }
        self.settings = settings
    }
}
