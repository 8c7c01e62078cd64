import Foundation

/// Where a stream is in its life.
public enum StreamPhase: String, Sendable, Codable, CaseIterable {
    /// Opening its source for the first time.
    case connecting
    /// Frames are coming.
    case running
    /// A live source dropped or went silent: opened again after a back-off, for as long as allowed.
    case reconnecting
    /// Done: a file reached its end, or the stream was stopped.
    case ended
    /// Given up: a file that cannot be read, or a live source silent for longer than allowed.
    case failed
}

/// Capped exponential back-off with jitter, for reopening a live source.
public struct Backoff: Sendable, Equatable {
    /// Seconds before the first retry.
    public var initial: Double = 0.5
    /// Seconds between retries at most.
    public var maximum: Double = 30
    /// Growth per failed retry.
    public var multiplier: Double = 2
    /// Spread either way, as a fraction (0.2: +-20%), so that cameras that dropped together do not
    /// all come back at the same instant.
    public var jitter: Double = 0.2

    /// Default settings.
    public init() {}

    /// Seconds to wait before retry number `attempt` (0 first); `random` in 0..<1.
    public func delay(attempt: Int, random: Double) -> Double {
        let base = min(maximum, initial * pow(multiplier, Double(min(attempt, 64))))
        return max(0, base * (1 + jitter * (2 * random - 1)))
    }
}

/// One stream's life as a value with no I/O: events in, the phase and what to do next out.
///
/// A live source (a camera: rtsp, udp, an http stream with no end announced) that ends, errors or
/// goes silent is reopened after a back-off, counted, for as long as `giveUpAfter` allows without a
/// frame (forever when nil, as a service does); a file ends, loops, or fails at once with the reason.
public struct StreamStateMachine: Sendable {
    /// What happened to the source.
    public enum Event: Sendable, Equatable {
        /// The source opened.
        case opened
        /// A frame arrived.
        case frame
        /// The pipeline took the last frame: the silence is measured from here, since a full queue
        /// that held the frame back is back-pressure, not a dead camera.
        case delivered
        /// The source said it has no more frames.
        case ended
        /// The source could not be opened or read, or went silent; the reason.
        case failed(String)
        /// Opening it again (a reconnect, or a looping file at its end) failed; the reason. A
        /// looping file is then retried like a camera (out of file descriptors, a file being
        /// replaced): it never fails for good at its loop point.
        case reopenFailed(String)
        /// The stream is to stop (removed, or the service ends).
        case stop
    }

    /// What the owner should do now.
    public enum Action: Sendable, Equatable {
        /// Nothing: carry on.
        case none
        /// Open the source again after this many seconds (a live source, or a file that loops).
        case reopen(after: Double)
        /// Stop reading: the stream is over (`phase` says how).
        case finish
    }

    /// How the source behaves.
    public struct Settings: Sendable, Equatable {
        /// A live source: ends and errors are drops, to be reconnected.
        public var live: Bool
        /// A file replayed from its start when it ends.
        public var loop = false
        /// Seconds without a frame after which a live source is given up; nil: never.
        public var giveUpAfter: Double?
        /// Back-off between reconnects.
        public var backoff = Backoff()

        /// Settings for a live source or a file.
        public init(live: Bool, loop: Bool = false, giveUpAfter: Double? = nil) {
            self.live = live
            self.loop = loop
            self.giveUpAfter = giveUpAfter
        }
    }

    /// The settings.
    public let settings: Settings
    /// Where it is.
    public private(set) var phase: StreamPhase = .connecting
    /// Reconnects that succeeded (a source opened again after a drop).
    public private(set) var reconnects = 0
    /// Attempts to reopen since the last frame.
    public private(set) var attempts = 0
    /// The last error, kept after recovery so that operators see what happened.
    public private(set) var lastError: String?
    /// When the last frame came (or the stream started): the silence is measured from here.
    public private(set) var lastFrameTime: Double

    /// A stream starting at `time`.
    public init(settings: Settings, time: Double) {
        self.settings = settings
        lastFrameTime = time
    }

    /// Applies `event` at `time` (seconds, monotonic); `random` (0..<1) spreads the back-off.
    public mutating func handle(_ event: Event, at time: Double, random: Double = 0.5) -> Action {
        if phase == .ended || phase == .failed { return .finish }
        switch event {
        case .stop:
            phase = .ended
            return .finish
        case .opened:
            if phase == .reconnecting { reconnects += 1 }
            phase = .running
            return .none
        case .frame:
            phase = .running
            attempts = 0
            lastFrameTime = time
            return .none
        case .delivered:
            lastFrameTime = max(lastFrameTime, time)
            return .none
        case .ended:
            if settings.live { return drop("the source ended", at: time, random: random) }
            if settings.loop && phase == .running { return .reopen(after: 0) }
            phase = .ended
            return .finish
        case .failed(let reason):
            lastError = reason
            if settings.live { return drop(reason, at: time, random: random) }
            phase = .failed
            return .finish
        case .reopenFailed(let reason):
            lastError = reason
            if settings.live || settings.loop { return drop(reason, at: time, random: random) }
            phase = .failed
            return .finish
        }
    }

    /// A live source dropped (or a reopen failed): wait and retry, or give up when silent too long.
    private mutating func drop(_ reason: String, at time: Double, random: Double) -> Action {
        lastError = reason
        if let limit = settings.giveUpAfter, time - lastFrameTime >= limit {
            phase = .failed
            lastError =
                "no frames for \(Self.seconds(time - lastFrameTime)) s (\(attempts) reconnect attempts): \(reason)"
            return .finish
        }
        phase = .reconnecting
        var wait = settings.backoff.delay(attempt: attempts, random: random)
        attempts += 1
        // Never wait past the moment of giving up: the last attempt comes at it.
        if let limit = settings.giveUpAfter { wait = min(wait, max(0, lastFrameTime + limit - time)) }
        return .reopen(after: wait)
    }

    private static func seconds(_ v: Double) -> String {
        let tenths = (v * 10).rounded() / 10
        return tenths == tenths.rounded() ? String(Int(tenths)) : String(tenths)
    }
}
