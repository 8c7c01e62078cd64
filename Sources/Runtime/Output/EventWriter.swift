import Core
import Foundation
import Vision

#if canImport(Glibc)
    import Glibc
#endif

/// The result for one frame, as an event line reports it.
public struct FrameResult: Sendable {
    /// Which source (0 for the first `--source`).
    public var stream: Int
    /// Frame index in its stream.
    public var frame: Int
    /// Presentation time in seconds.
    public var pts: Double
    /// `name@version` of the model that produced it.
    public var model: String
    /// Size of the batch it was inferred in.
    public var batch: Int
    /// What was found.
    public var detections: [Detection]
    /// Why the frame was not processed (shed under overload); nil for a processed frame.
    public var dropped: String? = nil
    /// The stream's name, written as `stream` in place of its number (a service's streams).
    public var name: String? = nil
    /// Wall-clock time of the result, seconds since 1970 (a service's events carry it).
    public var time: Double? = nil

    /// The event line, without its newline:
    /// `{"stream":0,"frame":i,"pts":s,"model":"m@v","batch":B,"detections":[{"label":..,"score":..,"box":[..]}]}`.
    public var jsonLine: String {
        var head = "{\"stream\":\(name.map(quoted) ?? String(stream)),\"frame\":\(frame),\"pts\":\(fixed(pts, 6)),"
        if let time { head += "\"time\":\(fixed(time, 3))," }
        head += "\"model\":\(quoted(model)),"
        if let dropped { return head + "\"dropped\":\(quoted(dropped))}" }
        var s = head + "\"batch\":\(batch),\"detections\":["
        for (i, d) in detections.enumerated() {
            if i > 0 { s += "," }
            s += "{\"label\":\(quoted(d.label)),\"score\":\(fixed(Double(d.score), 4)),\"box\":["
            s += d.box.map { fixed($0, 1) }.joined(separator: ",") + "]}"
        }
        return s + "]}"
    }
}

private func fixed(_ v: Double, _ digits: Int) -> String {
    let s = String(format: "%.\(digits)f", v)
    // Trim trailing zeros to keep lines short; keep at least one digit after the point.
    guard s.contains(".") else { return s }
    var t = Substring(s)
    while t.hasSuffix("0") && !t.hasSuffix(".0") { t = t.dropLast() }
    return String(t)
}

private func quoted(_ text: String) -> String {
    var s = "\""
    for ch in text.unicodeScalars {
        switch ch {
        case "\"": s += "\\\""
        case "\\": s += "\\\\"
        case "\n": s += "\\n"
        case _ where ch.value < 0x20: s += String(format: "\\u%04x", ch.value)
        default: s.unicodeScalars.append(ch)
        }
    }
    return s + "\""
}

/// Writes one JSON line per frame to a file, buffered, and rotated by size when asked: past
/// `rotateBytes`, the file is closed at a line's end and renamed `<path>.1` (older ones shifted to
/// `.2`... and the oldest past `keep` removed), and a new one begins. Lines are never split.
public final class EventWriter {
    /// The file.
    public let path: String
    private var file: UnsafeMutablePointer<FILE>?
    private let rotateBytes: Int?
    private let keep: Int
    private var bytes = 0

    /// Creates (or truncates) `path`.
    public init(path: String, rotateBytes: Int? = nil, keep: Int = 3) throws(OutputError) {
        self.path = path
        self.rotateBytes = rotateBytes
        self.keep = max(1, keep)
        file = try Self.open(path)
    }

    deinit { if let file { fclose(file) } }

    private static func open(_ path: String) throws(OutputError) -> UnsafeMutablePointer<FILE> {
        guard let file = fopen(path, "w") else {
            throw OutputError(path: path, message: "cannot write: \(String(cString: strerror(errno)))")
        }
        return file
    }

    /// Appends the line for `result`.
    public func write(_ result: FrameResult) throws(OutputError) {
        guard let file else { return }
        let line = result.jsonLine + "\n"
        let written = line.withCString { fputs($0, file) }
        if written < 0 { throw OutputError(path: path, message: "write failed: \(String(cString: strerror(errno)))") }
        bytes += line.utf8.count
        if let rotateBytes, bytes >= rotateBytes { try rotate() }
    }

    /// Hands what is buffered to the file, so that readers see every line written so far.
    public func flush() {
        if let file { fflush(file) }
    }

    private func rotate() throws(OutputError) {
        try close()
        let fm = FileManager.default
        try? fm.removeItem(atPath: "\(path).\(keep)")
        for k in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(k)") {
            try? fm.moveItem(atPath: "\(path).\(k)", toPath: "\(path).\(k + 1)")
        }
        if rename(path, "\(path).1") != 0 {
            throw OutputError(path: path, message: "cannot rotate: \(String(cString: strerror(errno)))")
        }
        file = try Self.open(path)
        bytes = 0
    }

    /// Flushes and closes the file.
    public func close() throws(OutputError) {
        guard let f = file else { return }
        file = nil
        if fclose(f) != 0 {
            throw OutputError(path: path, message: "close failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// An output file that cannot be written.
public struct OutputError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// The file cannot be created, written, rotated or closed (a full disk, no permission).
        case write
    }

    /// The kind (one so far).
    public var code: Code { .write }
    /// The file.
    public let path: String
    /// What failed.
    public let message: String
    /// `path: message`.
    public var description: String { "\(path): \(message)" }

    /// A write failure of `path`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

extension OutputError: CodedError {
    /// Our own file could not be written.
    public var errorCode: ErrorCode { .failed }
}
