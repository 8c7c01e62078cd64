internal import CFFmpeg
import Core

/// An error from video input or output, naming the input and carrying FFmpeg's own message.
public struct VideoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, for callers that react differently to each case.
    public enum Kind: Sendable, Equatable {
        /// The input could not be opened (missing file, refused connection, unknown protocol).
        case open
        /// The input opened but holds no decodable video stream.
        case notVideo
        /// Reading or decoding failed part-way.
        case decode
        /// The input ended before the frames its header announced.
        case truncated
        /// No data arrived within the time-out.
        case timeout
        /// Writing the output video failed.
        case encode
    }

    /// The kind of failure.
    public let kind: Kind
    /// The file or URL concerned, its credentials hidden (`SourcePolicy.redacted`).
    public let input: String
    /// A one-line explanation, including FFmpeg's message where there is one.
    public let message: String

    /// Creates an error for `input`.
    public init(_ kind: Kind, input: String, message: String) {
        self.kind = kind
        self.input = SourcePolicy.redacted(input)
        self.message = message
    }

    /// `input: message`, on one line.
    public var description: String { "\(input): \(message)" }
}

/// FFmpeg's text for an `AVERROR` code.
func ffmpegMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    if av_strerror(code, &buffer, buffer.count) < 0 {
        return "error \(code)"
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Every FFmpeg status in this module goes through here: a negative code becomes a `VideoError`.
@discardableResult
func check(_ code: Int32, _ kind: VideoError.Kind, input: String, _ what: @autoclosure () -> String) throws(VideoError)
    -> Int32
{
    guard code < 0 else { return code }
    throw VideoError(kind, input: input, message: "\(what()): \(ffmpegMessage(code))")
}

/// FFmpeg's own log output (to standard error) is off unless turned on: errors reach users as
/// `VideoError`s with FFmpeg's message instead. `verbose` lets warnings through for debugging.
public func setFFmpegLogging(verbose: Bool) {
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET)
}
