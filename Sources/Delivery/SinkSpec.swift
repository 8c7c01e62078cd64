import Foundation

/// Where a node's analytics events go, besides its events files: an MQTT broker or a webhook.
/// Decoded from `sinks:` in a serve config and checked as untrusted input; each sink has a name
/// (its outbox's file and its series are named after it, so a restart finds its outbox again).
public struct SinkSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case mqtt, webhook
    }

    /// Its name: `[a-zA-Z0-9_.-]`, 1-64 characters, unique among the sinks.
    public var name: String
    public var kind: Kind
    /// `mqtt://[user:password@]HOST[:PORT]` or `http(s)://...`.
    public var url: String
    /// MQTT: the topic's root (`<topic>/<stream>/events`, `<topic>/<stream>/counts`,
    /// `<topic>/available`).
    public var topic = "batchline"
    /// MQTT: 1 (at least once). 0 is refused: an event the broker did not acknowledge is not sent.
    public var qos = 1
    /// MQTT: the client id (default `batchline-<name>`).
    public var clientID: String?
    /// MQTT over TLS (`mqtts://`): a PEM file of the certificates that may sign the broker's
    /// (nil: the system's roots).
    public var caFile: String?
    /// The outbox's bound in bytes: past it the oldest messages are dropped and counted.
    public var outboxBytes = 64 << 20
    /// The streams whose events it takes (nil: all).
    public var streams: Set<String>?
    /// Webhook: headers sent with each POST (an `Authorization`, say).
    public var headers: [String: String] = [:]
    /// Seconds a send may take before it is retried (connect, PUBACK, HTTP answer).
    public var timeout = 10.0
    /// Back-off between retries: from `retryMin` doubling to `retryMax` seconds.
    public var retryMin = 0.5
    public var retryMax = 30.0

    public init(name: String, kind: Kind, url: String) {
        self.name = name
        self.kind = kind
        self.url = url
    }

    /// Whether it takes `stream`'s events.
    public func takes(_ stream: String) -> Bool { streams?.contains(stream) ?? true }

    /// Its broker's address (MQTT), checked: `mqtt://` or `mqtts://` (TLS), a host, a port within
    /// 1...65535 (1883, or 8883 with TLS, unless given); a user and password when given.
    public func broker() throws(SinkError) -> Broker {
        guard kind == .mqtt else { throw SinkError("\(name): not an MQTT sink") }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased() else {
            throw SinkError("\(name): url \"\(url)\" is not a URL")
        }
        guard ["mqtt", "tcp", "mqtts", "ssl"].contains(scheme) else {
            throw SinkError("\(name): url scheme \"\(scheme)\" is not supported (use mqtt://HOST:PORT or mqtts://)")
        }
        let tls = scheme == "mqtts" || scheme == "ssl"
        guard let host = parts.host, !host.isEmpty else { throw SinkError("\(name): url \"\(url)\" has no host") }
        let port = parts.port ?? (tls ? 8883 : 1883)
        guard (1...65535).contains(port) else { throw SinkError("\(name): port \(port) is outside 1...65535") }
        guard parts.path.isEmpty || parts.path == "/" else {
            throw SinkError("\(name): url \"\(url)\" has a path; the topic goes in `topic`")
        }
        if caFile != nil && !tls { throw SinkError("\(name): ca_file needs an mqtts:// url") }
        return Broker(host: host, port: port, user: parts.user, password: parts.password, tls: tls)
    }

    /// Checks everything but reachability: the name, the URL, the topic, the ranges.
    public func validate() throws(SinkError) {
        guard (1...64).contains(name.count),
            name.unicodeScalars.allSatisfy({
                CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)
            }),
            name.first != "."
        else { throw SinkError("sink name \"\(name)\" must be 1-64 letters, digits, '_', '.' or '-'") }
        guard (1 << 20...1 << 40).contains(outboxBytes) else {
            throw SinkError("\(name): outbox_mb must be within 1...1048576")
        }
        guard timeout > 0, timeout <= 300 else { throw SinkError("\(name): timeout_s must be within (0, 300]") }
        switch kind {
        case .mqtt:
            _ = try broker()
            guard qos == 1 else {
                throw SinkError("\(name): qos \(qos) is not supported (1: at least once, acknowledged by the broker)")
            }
            guard !topic.isEmpty, topic.utf8.count <= 1024, !topic.contains("+"), !topic.contains("#"),
                !topic.hasSuffix("/"), !topic.unicodeScalars.contains(where: { $0.value == 0 })
            else { throw SinkError("\(name): topic \"\(topic)\" must be a plain topic (no wildcards, no trailing /)") }
            if let clientID, clientID.isEmpty || clientID.utf8.count > 128 {
                throw SinkError("\(name): client_id must be 1-128 bytes")
            }
        case .webhook:
            guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
                scheme == "http" || scheme == "https", let host = parts.host, !host.isEmpty
            else { throw SinkError("\(name): url \"\(url)\" must be http(s)://HOST[:PORT]/PATH") }
            for (key, value) in headers
            where key.isEmpty || key.contains(where: { $0 == ":" || $0.isWhitespace || $0.isNewline })
                || value.contains(where: \.isNewline)
            {
                throw SinkError("\(name): header \"\(key)\" is not a valid header")
            }
        }
    }

    /// The URL with any password hidden (for status and logs).
    public var redactedURL: String {
        guard var parts = URLComponents(string: url), parts.password != nil else { return url }
        parts.password = "***"
        return parts.string ?? url
    }
}

/// An MQTT broker's address.
public struct Broker: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// Whether the connection is TLS (`mqtts://`).
    public var tls = false

    public init(host: String, port: Int, user: String? = nil, password: String? = nil, tls: Bool = false) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.tls = tls
    }
}

/// A sink's problem, one line naming the sink.
public struct SinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
