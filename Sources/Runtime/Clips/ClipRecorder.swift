import Core
import Synchronization
import VideoIO

/// One stream's clip recorder: its ring of packets, fed by the thread that reads the stream, and
/// the clips its events asked for, cut once the stream has been read `post_s` past the event.
///
/// - Fed on the reading thread (`begin`, `setOffset`, `append`, `finish`); asked on the output's
///   (`request`). Each call holds a lock for a ring update; cutting copies the packet list (not
///   their bytes), and the remuxing runs on the blocking executor (`EventClips`).
/// - At most `maxPending` clips wait for their end; one more is skipped, counted by the store.
/// - A clip whose end the source never reaches (it ended, was removed, reconnected, started its
///   times again, or went quiet past `post_s` + `lagMargin` + `graceSeconds`) is cut with what was
///   read.
/// - The ring of the session before the current one is kept: an event the output counts after the
///   source reopened (a loop, a reconnect, while the output lags) is still cut from it.
final class ClipRecorder: Sendable {
    let settings: ClipSettings
    let store: EventClips
    static let maxPending = 32
    /// Seconds a clip may wait past its end plus the lag margin before it is cut anyway.
    static let graceSeconds = 10.0

    private struct Request {
        var ids: [String]
        var from: Double
        var to: Double
        /// `Clock.now` past which it is cut with what there is.
        var deadline: Double
    }

    private struct State {
        var ring: PacketRing
        var previous: PacketRing?
        var pending: [Request] = []
        var finished = false
    }

    private let state: Mutex<State>

    init(settings: ClipSettings, store: EventClips, ringBytes: Int = ClipSettings.ringBytes) {
        self.settings = settings
        self.store = store
        state = Mutex(State(ring: PacketRing(window: settings.window, maxBytes: ringBytes)))
    }

    /// The source (re)opened: what waits is cut from the last session, which is kept for late
    /// requests, then a new one starts. `offset` maps its times to the pipeline's, when known.
    func begin(_ parameters: StreamParameters?, offset: Double?) {
        let due = state.withLock { s in
            let due = Self.takeAll(&s)
            s.finished = false
            s.previous = s.ring
            s.ring.begin(parameters, offset: offset)
            return due
        }
        hand(due)
    }

    /// The session's offset, from its first frame.
    func setOffset(_ seconds: Double) {
        let due = state.withLock { s in
            s.ring.setOffset(seconds)
            return Self.takeDue(&s)
        }
        hand(due)
    }

    /// The next packet read.
    func append(_ packet: EncodedPacket) {
        let due = state.withLock { s in
            // Times that start again: what waits is served from what was held, first.
            let restarted = s.ring.restarts(with: packet) ? Self.takeAll(&s) : []
            s.ring.append(packet)
            return restarted + (s.pending.isEmpty ? [] : Self.takeDue(&s))
        }
        hand(due)
    }

    /// The source ended or stopped: what waits is cut now, as are later requests.
    func finish() {
        let due = state.withLock { s in
            s.finished = true
            return Self.takeAll(&s)
        }
        hand(due)
    }

    /// The events `ids`, on the frame at pipeline time `time`, want a clip (one file, shared).
    func request(ids: [String], at time: Double) {
        let ids = ids.filter(EventSnapshots.isValidID)
        guard !ids.isEmpty, time.isFinite else { return }
        let wait = settings.postSeconds + ClipSettings.lagMargin + Self.graceSeconds
        let request = Request(
            ids: ids, from: time - settings.preSeconds, to: time + settings.postSeconds, deadline: Clock.now + wait)
        // Known as being recorded before anything can cut it (and forget it).
        store.recording(ids)
        let (admitted, due) = state.withLock { s in
            guard s.pending.count < Self.maxPending else { return (false, [(request: Request, cut: ClipCut?)]()) }
            s.pending.append(request)
            return (true, Self.takeDue(&s))
        }
        guard admitted else {
            store.skip(ids, reason: "more than \(Self.maxPending) clips were waiting for their end")
            return
        }
        hand(due)
    }

    /// Requests whose end has been read, or whose wait is over (all, once finished), with their cuts.
    private static func takeDue(_ s: inout State) -> [(request: Request, cut: ClipCut?)] {
        guard !s.pending.isEmpty else { return [] }
        let now = Clock.now
        var due: [(request: Request, cut: ClipCut?)] = []
        var waiting: [Request] = []
        for request in s.pending {
            if s.finished || now > request.deadline || s.ring.hasRead(past: request.to) {
                due.append((request, cut(request, s)))
            } else {
                waiting.append(request)
            }
        }
        s.pending = waiting
        return due
    }

    /// Every request waiting, cut now.
    private static func takeAll(_ s: inout State) -> [(request: Request, cut: ClipCut?)] {
        defer { s.pending = [] }
        return s.pending.map { ($0, cut($0, s)) }
    }

    /// From the session it starts in: the previous one when it starts before that one's end (an
    /// event counted late, after the source reopened).
    private static func cut(_ request: Request, _ s: State) -> ClipCut? {
        if let previous = s.previous, let end = previous.newestTime, request.from <= end,
            s.ring.newestTime.map({ request.from < $0 }) ?? true,
            let cut = previous.cut(from: request.from, to: request.to)
        {
            return cut
        }
        return s.ring.cut(from: request.from, to: request.to)
    }

    private func hand(_ due: [(request: Request, cut: ClipCut?)]) {
        for (request, cut) in due {
            if let cut {
                store.write(cut, ids: request.ids)
            } else {
                store.skip(request.ids, reason: "the stream's packets for it were no longer held")
            }
        }
    }
}
