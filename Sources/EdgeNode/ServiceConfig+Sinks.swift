import Delivery
import Foundation

extension ServiceConfig {
    /// The most sinks a node delivers to.
    static let maxSinks = 16

    /// `sinks: [{type: mqtt|webhook, url, name, topic, qos, client_id, ca_file, outbox_mb, streams,
    /// headers, timeout_s}]`: each entry checked on its own (`SinkSpec.validate`); a sink without a `name`
    /// is `<type>-<n>` (its place among the sinks, from 1), which names its outbox file, so that a
    /// restart with the same file finds it again.
    struct SinkEntry: Decodable {
        let spec: SinkSpec

        enum Keys: String, CodingKey, CaseIterable {
            case type, url, name, topic, qos, streams, headers
            case clientID = "client_id", outboxMB = "outbox_mb", timeout = "timeout_s", caFile = "ca_file"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.mapping(Keys.self)
            guard let typeName = try c.string(.type) else { throw c.issue(.type, "missing (mqtt or webhook)") }
            guard let kind = SinkSpec.Kind(rawValue: typeName) else {
                throw c.issue(.type, "unknown sink type '\(typeName.prefix(40))': use mqtt or webhook")
            }
            guard let url = try c.string(.url) else { throw c.issue(.url, "missing") }
            let place = (decoder.codingPath.last?.intValue ?? 0) + 1
            var spec = SinkSpec(name: try c.string(.name) ?? "\(kind.rawValue)-\(place)", kind: kind, url: url)
            spec.topic = try c.string(.topic) ?? spec.topic
            spec.qos = try c.int(.qos, in: 0...2) ?? spec.qos
            spec.clientID = try c.string(.clientID)
            spec.caFile = try c.string(.caFile)
            spec.outboxBytes = (try c.int(.outboxMB, in: 1...(1 << 20)) ?? 64) << 20
            spec.streams = try c.strings(.streams, atMost: EdgeService.maxStreams).map(Set.init)
            if let timeout = try c.duration(.timeout, atMost: 300, Duration.seconds) {
                spec.timeout = timeout.inSeconds
            }
            if c.has(.headers) {
                guard kind == .webhook else { throw c.issue(.headers, "only a webhook sends headers") }
                let headers = try c.optional([String: String].self, .headers, else: "must map names to values")
                guard (headers?.count ?? 0) <= 32 else { throw c.issue(.headers, "at most 32 headers") }
                spec.headers = headers ?? [:]
            }
            do {
                try spec.validate()
            } catch {
                throw ConfigIssue(at: decoder.codingPath, error.description)
            }
            self.spec = spec
        }
    }

    /// The `sinks:` list, each entry checked on its own (one issue each); names unique.
    static func sinks(_ top: KeyedDecodingContainer<AnyCodingKey>, _ key: AnyCodingKey, issues: inout [ConfigIssue])
        -> [SinkSpec]
    {
        guard top.has(key) else { return [] }
        guard var list = try? top.nestedUnkeyedContainer(forKey: key) else {
            issues.append(top.issue(key, "must be a list of sinks"))
            return []
        }
        var out: [SinkSpec] = []
        var names = Set<String>()
        while !list.isAtEnd {
            let at = top.codingPath + [key, AnyCodingKey(intValue: list.currentIndex)]
            guard list.currentIndex < maxSinks else {
                issues.append(ConfigIssue(at: at, "at most \(maxSinks) sinks"))
                break
            }
            guard let entry = try? list.superDecoder() else { break }
            do {
                let spec = try SinkEntry(from: entry).spec
                guard names.insert(spec.name).inserted else {
                    throw ConfigIssue(at: at + [AnyCodingKey("name")], "duplicate sink name '\(spec.name)'")
                }
                out.append(spec)
            } catch {
                issues.append(ConfigIssue(error))
            }
        }
        return out
    }
}
