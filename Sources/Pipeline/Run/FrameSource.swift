import Foundation
import Logging
import Monitoring
import Runtime
import VideoIO

/// One stream's frames: its decoder, and, for a live source (a camera), the reconnects.
///
/// A live source that ends, errors or goes silent is reopened after a capped, jittered back-off
/// (`StreamStateMachine`) until `giveUpAfter` seconds pass without a frame; then `nextFrame`
/// throws, naming the input, the silence and the last error. Frame numbers and timestamps continue
/// across reopenings, so that a stream's events stay one sequence. A file is read once, as before.
/// Used by the one thread that reads the stream.
final class FrameSource {
    /// The source as given.
    let input: String
    /// What the first opening found.
    let info: VideoInfo
    private var decoder: VideoDecoder?
    private var machine: StreamStateMachine
    private let decoderOptions: DecoderOptions
    private let stopped: @Sendable () -> Bool
    private let logger: Logger
    private var next = 0
    private var lastPts: Double?
    private var ptsOffset = 0.0
    private var rebase = false

    /// Wraps an opened `decoder`; `giveUpAfter` seconds without a frame end a live source (nil: never).
    init(
        decoder: VideoDecoder, giveUpAfter: Double?, options: DecoderOptions, logger: Logger,
        stopped: @escaping @Sendable () -> Bool
    ) {
        input = decoder.input
        info = decoder.info
        self.decoder = decoder
        decoderOptions = options
        self.stopped = stopped
        self.logger = logger
        let live = Self.isLive(decoder.input, info: decoder.info)
        machine = StreamStateMachine(settings: .init(live: live, giveUpAfter: giveUpAfter), time: Clock.now)
        _ = machine.handle(.opened, at: Clock.now)
    }

    /// A camera rather than a file: a streaming protocol, or an http(s) stream that announced no
    /// length (a file served over http announces its frames, and its end is an end).
    static func isLive(_ input: String, info: VideoInfo) -> Bool {
        guard let colon = input.range(of: "://") else { return false }
        let scheme = input[..<colon.lowerBound].lowercased()
        switch scheme {
        case "file": return false
        case "http", "https": return info.frameCount == nil
        default: return true
        }
    }

    /// The next frame, numbered and timed on from the last; nil at the end of a file (or when
    /// stopped); throws when a file cannot be read or a live source is given up.
    func nextFrame() throws(VideoError) -> VideoFrame? {
        while !stopped() {
            guard let decoder else { return nil }
            var event: StreamStateMachine.Event
            do {
                if var frame = try decoder.nextFrame() {
                    _ = machine.handle(.frame, at: Clock.now)
                    if rebase, let last = lastPts {
                        ptsOffset = last + 1 / max(info.frameRate, 1) - frame.pts
                        rebase = false
                    }
                    frame.index = next
                    frame.pts += ptsOffset
                    next += 1
                    lastPts = frame.pts
                    return frame
                }
                event = .ended
            } catch {
                event = .failed(error.message)
                if !machine.settings.live { throw error }
            }
            if try !reopen(after: event) { return nil }
        }
        return nil
    }

    /// Follows the state machine after a drop until the source opens again (true), the stream is
    /// stopped or a file ends (false), or it gives up (throws).
    private func reopen(after first: StreamStateMachine.Event) throws(VideoError) -> Bool {
        var event = first
        while true {
            switch machine.handle(event, at: Clock.now, random: Double.random(in: 0..<1)) {
            case .none:
                return true
            case .finish:
                decoder = nil
                if machine.phase == .failed {
                    throw VideoError(.timeout, input: input, message: "camera lost: \(machine.lastError ?? "gone")")
                }
                return false
            case .reopen(let wait):
                logger.warning(
                    "source dropped, reconnecting",
                    metadata: [
                        "source": "\(input)", "error": "\(machine.lastError ?? "")",
                        "retry.in.s": "\(String(format: "%.2f", wait))", "attempt": "\(machine.attempts)",
                    ])
                decoder = nil
                let until = Clock.now + wait
                while Clock.now < until {
                    if stopped() { return false }
                    Thread.sleep(forTimeInterval: min(0.05, max(0, until - Clock.now)))
                }
                do {
                    decoder = try VideoDecoder(input: input, options: decoderOptions)
                    event = .opened
                    rebase = true
                    logger.notice(
                        "source reconnected",
                        metadata: ["source": "\(input)", "reconnects": "\(machine.reconnects + 1)"])
                } catch {
                    event = .failed(error.message)
                }
            }
        }
    }
}
