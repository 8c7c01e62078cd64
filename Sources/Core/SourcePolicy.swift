import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which video sources a node may open, and how a source is shown: files (regular files only) under
/// allowed folders, and the streaming protocols a camera needs. Sources come from configs, request
/// bodies and command lines; each is checked here before FFmpeg sees it, and FFmpeg is then held to
/// the protocols of the source's own scheme (`ffmpegProtocols`), so that a playlist or an RTSP
/// session cannot pivot to `file:`, `concat:` or `tcp:`.
public struct SourcePolicy: Sendable, Equatable {
    /// What a camera needs: `rtsp`, `rtsps`, `http`, `https`, `udp`, `rtp`, `srt`.
    public static let defaultProtocols = ["rtsp", "rtsps", "http", "https", "udp", "rtp", "srt"]
    /// The longest source accepted, in bytes.
    public static let maxLength = 4096

    /// URL schemes allowed (lower-case).
    public var protocols: Set<String>
    /// Folders (absolute, standardized) that files may be in; nil: any folder.
    public var folders: [String]?

    /// A policy allowing `protocols` and files under `folders` (nil: files anywhere); relative
    /// folders are taken from the working directory.
    public init(protocols: [String] = defaultProtocols, folders: [String]?) {
        self.protocols = Set(protocols.map { $0.lowercased() })
        self.folders = folders.map { list in
            list.map(Self.absolute).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        }
    }

    /// `source` refused, in one line (without the source's credentials), or nil when it may be opened.
    public func refusal(_ source: String) -> String? {
        if let problem = Self.textProblem(source) { return problem }
        guard let scheme = Self.scheme(of: source) else { return fileRefusal(source) }
        if scheme == "file" { return fileRefusal(Self.filePath(source)) }
        guard protocols.contains(scheme) else {
            let allowed = protocols.sorted().joined(separator: ", ")
            return "protocol '\(scheme.prefix(32))' is not allowed (allowed: files, \(allowed); "
                + "sources.allow_protocols widens this)"
        }
        return nil
    }

    /// A problem of the text itself: empty, too long, or holding a control character (a newline
    /// would forge a log line).
    public static func textProblem(_ source: String) -> String? {
        if source.isEmpty { return "missing" }
        if source.utf8.count > maxLength { return "longer than \(maxLength) bytes" }
        if let c = source.unicodeScalars.first(where: isControl) {
            return "contains a control character (U+\(String(format: "%04X", c.value)))"
        }
        return nil
    }

    /// Whether `c` is a control character (C0, DEL, C1, or a line or paragraph separator).
    public static func isControl(_ c: Unicode.Scalar) -> Bool {
        c.value < 0x20 || (0x7F...0x9F).contains(c.value) || c.value == 0x2028 || c.value == 0x2029
    }

    /// The protocol FFmpeg would take `source` for, lower-case: its prefix before `:` when that is
    /// made of `A-Z a-z 0-9 + - .` (as FFmpeg reads it); nil for a file path.
    public static func scheme(of source: String) -> String? {
        guard let colon = source.firstIndex(of: ":"), colon > source.startIndex else { return nil }
        let prefix = source[..<colon]
        guard prefix.unicodeScalars.allSatisfy({ $0.isASCII && (isAlnum($0) || "+-.".unicodeScalars.contains($0)) })
        else { return nil }
        return prefix.lowercased()
    }

    /// The path of a `file:` or `file://` source.
    public static func filePath(_ source: String) -> String {
        if source.lowercased().hasPrefix("file://") { return String(source.dropFirst(7)) }
        if source.lowercased().hasPrefix("file:") { return String(source.dropFirst(5)) }
        return source
    }

    /// The protocols FFmpeg may use to read `source` (its `protocol_whitelist`): those its own
    /// scheme needs, nothing else (`file` for a file).
    public static func ffmpegProtocols(for source: String) -> String {
        guard let scheme = scheme(of: source), scheme != "file" else { return "file" }
        var names: [String] = []
        for part in scheme.split(separator: "+").map(String.init) {
            for name in nested[part] ?? [part] where !names.contains(name) { names.append(name) }
        }
        return names.joined(separator: ",")
    }

    /// What each scheme reads through, in FFmpeg's names (RTSP: its RTP over UDP or TCP, TLS for
    /// rtsps, HTTP tunnelling; HTTP: TLS, and `crypto` for encrypted HLS segments).
    static let nested: [String: [String]] = [
        "http": ["http", "https", "tcp", "tls", "crypto"],
        "https": ["http", "https", "tcp", "tls", "crypto"],
        "rtsp": ["rtsp", "rtsps", "rtp", "srtp", "udp", "tcp", "tls", "http"],
        "rtsps": ["rtsp", "rtsps", "rtp", "srtp", "udp", "tcp", "tls", "http"],
        "rtp": ["rtp", "udp"],
        "udp": ["udp"],
        "srt": ["srt"],
    ]

    /// `source` as it may be shown or logged: a URL's user and password replaced by `***`, and the
    /// values of query parameters named like a secret (password, token, key...) too.
    public static func redacted(_ source: String) -> String {
        guard let schemeEnd = source.range(of: "://") else { return source }
        var text = source
        let authorityStart = schemeEnd.upperBound
        let rest = text[authorityStart...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? text.endIndex
        if let at = text[authorityStart..<authorityEnd].lastIndex(of: "@") {
            text.replaceSubrange(authorityStart..<at, with: "***")
        }
        guard let question = text.firstIndex(of: "?") else { return text }
        let queryEnd = text[question...].firstIndex(of: "#") ?? text.endIndex
        let parameters = text[text.index(after: question)..<queryEnd].split(
            separator: "&", omittingEmptySubsequences: false)
        let hidden = parameters.map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
            let name = parameter[..<equals].lowercased()
            guard secretNames.contains(where: { name.contains($0) }) else { return String(parameter) }
            return String(parameter[..<equals]) + "=***"
        }
        text.replaceSubrange(text.index(after: question)..<queryEnd, with: hidden.joined(separator: "&"))
        return text
    }

    /// Parts of a query parameter's name that mark its value as a secret.
    static let secretNames = ["pass", "pwd", "token", "key", "secret", "auth", "sig", "credential", "session"]

    // MARK: Files

    /// A file source refused, or nil: an existing, readable regular file under an allowed folder.
    private func fileRefusal(_ path: String) -> String? {
        let absolute = Self.absolute(path)
        if let folders, !folders.contains(where: { absolute == $0 || absolute.hasPrefix($0 == "/" ? $0 : $0 + "/") }) {
            return "\(path) is not under an allowed folder (\(folders.joined(separator: ", ")); "
                + "sources.allow_folders widens this)"
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return "no such file: \(path)" }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return "\(path) is a folder, not a video file"
        case S_IFIFO: return "\(path) is a FIFO, not a regular file"
        case S_IFSOCK: return "\(path) is a socket, not a regular file"
        default: return "\(path) is a device, not a regular file"
        }
        guard access(path, R_OK) == 0 else { return "not a readable file: \(path)" }
        return nil
    }

    /// `path` made absolute (from the working directory) and standardized (`.` and `..` gone).
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    private static func isAlnum(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }
}
