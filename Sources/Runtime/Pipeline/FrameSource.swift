import Core
import Foundation
import Logging
import Monitoring
import VideoIO

/// One stream's frames: its decoder, and, for a live source (a camera) or a looping file, the
/// reopenings.
///
/// A live source that ends, errors or goes silent is reopened after a capped, jittered back-off
/// (`StreamStateMachine`) until `giveUpAfter` seconds pass without a frame (never, when nil: a
/// service keeps trying for as long as the stream is configured); then `nextFrame` throws, naming
/// the input, the silence and the last error. A looping file starts again at its end. Frame numbers
/// and timestamps continue across reopenings, so that a stream's events stay one sequence. Used by
/// the one thread that reads the stream; its state goes to `handle` as it changes.
final class FrameSource {
    /// The source as given.
    let input: String
    /// What the first opening found (nil until a source opened lazily has opened).
    private(set) var info: VideoInfo?
    private var decoder: VideoDecoder?
    private var machine: StreamStateMachine
    private let decoderOptions: DecoderOptions
    private let stopSignal: StopSignal
    private let logger: Logger
    private let handle: StreamHandle?
    private var next = 0
    private var lastPts: Double?
    private var ptsOffset = 0.0
    private var rebase = false
    /// The clip recorder's session awaits its first frame's offset.
    private var clipOffsetPending = false

    /// Wraps an opened `decoder`; `giveUpAfter` seconds without a frame end a live source (nil: never).
    init(
        decoder: VideoDecoder, giveUpAfter: Double?, loop: Bool = false, options: DecoderOptions, logger: Logger,
        handle: StreamHandle? = nil, stop: StopSignal
    ) {
        input = decoder.input
        info = decoder.info
        self.decoder = decoder
        decoderOptions = options
        stopSignal = stop
        self.logger = logger
        self.handle = handle
        let live = Self.isLive(decoder.input, frameCount: decoder.info.frameCount)
        machine = StreamStateMachine(
            settings: .init(live: live, loop: loop && !live, giveUpAfter: giveUpAfter), time: Clock.now)
        _ = machine.handle(.opened, at: Clock.now)
        publish()
        tap(decoder)
    }

    /// A source opened by its own thread on the first `nextFrame` (a camera that is not up yet does
    /// not hold up whoever adds it). A live URL is retried until it answers; a file that cannot be
    /// opened fails at once.
    init(
        input: String, giveUpAfter: Double?, loop: Bool, options: DecoderOptions, logger: Logger,
        handle: StreamHandle?, stop: StopSignal
    ) {
        self.input = input
        decoderOptions = options
        stopSignal = stop
        self.logger = logger
        self.handle = handle
        let live = Self.isLive(input, frameCount: nil)
        machine = StreamStateMachine(
            settings: .init(live: live, loop: loop && !live, giveUpAfter: giveUpAfter), time: Clock.now)
        publish()
    }

    /// A camera: its reads wait for frames to come.
    var isLive: Bool { machine.settings.live }

    /// Frames numbered so far: the next frame's index.
    var framesRead: Int { next }

    /// A camera rather than a file: a streaming protocol, or an http(s) stream that announced no
    /// length (a file served over http announces its frames, and its end is an end).
    static func isLive(_ input: String, frameCount: Int?) -> Bool {
        guard let colon = input.range(of: "://") else { return false }
        let scheme = input[..<colon.lowerBound].lowercased()
        switch scheme {
        case "file": return false
        case "http", "https": return frameCount == nil
        default: return true
        }
    }

    /// The pipeline took the last frame (after waiting for room, perhaps): silence counts from now.
    func delivered() { _ = machine.handle(.delivered, at: Clock.now) }

    /// The next frame, numbered and timed on from the last; nil at the end of a file (or when
    /// stopped); throws when a file cannot be read or a live source is given up. Without `picture`
    /// the frame comes without its pixels (one the detector will not see).
    func nextFrame(picture: Bool = true) throws(VideoError) -> VideoFrame? {
        if decoder == nil && machine.phase == .connecting {
            if try !open() { return nil }
        }
        while !stopSignal.isRaised {
            guard let decoder else { return nil }
            var event: StreamStateMachine.Event
            do {
                if var frame = try decoder.nextFrame(picture: picture) {
                    let wasRunning = machine.phase == .running
                    _ = machine.handle(.frame, at: Clock.now)
                    if !wasRunning { publish() }
                    if rebase, let last = lastPts {
                        ptsOffset = last + 1 / max(info?.frameRate ?? 0, 1) - frame.pts
                        rebase = false
                    }
                    frame.index = next
                    frame.pts += ptsOffset
                    if clipOffsetPending {
                        clipOffsetPending = false
                        handle?.clips?.setOffset(ptsOffset)
                    }
                    next += 1
                    lastPts = frame.pts
                    return frame
                }
                event = .ended
            } catch {
                event = .failed(error.message)
                if !machine.settings.live {
                    fail(error.message)
                    throw error
                }
            }
            if try !reopen(after: event) { return nil }
        }
        stop()
        return nil
    }

    /// Marks the stream stopped (removed, or the service ends).
    func stop() {
        _ = machine.handle(.stop, at: Clock.now)
        publish()
        handle?.clips?.finish()
    }

    private func fail(_ reason: String) {
        _ = machine.handle(.failed(reason), at: Clock.now)
        publish()
        handle?.clips?.finish()
    }

    /// Hands the decoder's packets to the stream's clip recorder, if it keeps clips: a new session,
    /// whose times are mapped to the pipeline's by the offset its first frame gets.
    private func tap(_ decoder: VideoDecoder) {
        guard let clips = handle?.clips else { return }
        decoder.onPacket = { clips.append($0) }
        clips.begin(decoder.parameters, offset: nil)
        clipOffsetPending = true
    }

    private func publish() {
        handle?.update(phase: machine.phase, reconnects: machine.reconnects, lastError: machine.lastError)
    }

    /// The first opening of a lazily opened source: true when it opened (or is being retried and
    /// then opened), false when stopped first; throws for a file that cannot be opened.
    private func open() throws(VideoError) -> Bool {
        do {
            let opened = try VideoDecoder(input: input, options: decoderOptions)
            decoder = opened
            info = opened.info
            tap(opened)
            _ = machine.handle(.opened, at: Clock.now)
            publish()
            return true
        } catch {
            guard machine.settings.live else {
                fail(error.message)
                throw error
            }
            return try reopen(after: .failed(error.message))
        }
    }

    /// Follows the state machine after a drop until the source opens again (true), the stream is
    /// stopped or a file ends (false), or it gives up (throws).
    private func reopen(after first: StreamStateMachine.Event) throws(VideoError) -> Bool {
        var event = first
        while true {
            let action = machine.handle(event, at: Clock.now, random: Double.random(in: 0..<1))
            publish()
            switch action {
            case .none:
                return true
            case .finish:
                decoder = nil
                handle?.clips?.finish()
                if machine.phase == .failed {
                    throw VideoError(.timeout, input: input, message: "camera lost: \(machine.lastError ?? "gone")")
                }
                return false
            case .reopen(let wait):
                let looping = machine.phase == .running
                if !looping || machine.attempts > 0 {
                    logger.warning(
                        "source dropped, reconnecting",
                        metadata: [
                            "source": "\(SourcePolicy.redacted(input))", "error": "\(machine.lastError ?? "")",
                            "retry.in.s": "\(String(format: "%.2f", wait))", "attempt": "\(machine.attempts)",
                        ])
                }
                decoder = nil
                // The back-off ends early when the stream is stopped.
                if stopSignal.sleep(seconds: wait) {
                    stop()
                    return false
                }
                do {
                    let opened = try VideoDecoder(input: input, options: decoderOptions)
                    decoder = opened
                    if info == nil { info = opened.info }
                    tap(opened)
                    event = .opened
                    rebase = true
                    if !looping {
                        logger.notice(
                            "source reconnected",
                            metadata: [
                                "source": "\(SourcePolicy.redacted(input))", "reconnects": "\(machine.reconnects + 1)",
                            ])
                    }
                } catch {
                    // Retried with back-off, a camera's or a looping file's (the machine says so).
                    event = .reopenFailed(error.message)
                }
            }
        }
    }
}
