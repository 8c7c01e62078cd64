import Synchronization
import VideoIO

/// One stream's clip recorder: its ring of packets, fed by the thread that reads the stream, and
/// the clips its events asked for, cut once the stream has been read `post_s` past the event.
///
/// - Fed on the reading thread (`begin`, `setOffset`, `append`, `finish`); asked on the output's
///   (`request`). Each call holds a lock for a ring update; cutting copies the packet list (not
///   their bytes), and the remuxing runs on the blocking executor (`EventClips`).
/// - At most `maxPending` clips wait for their end; one more is skipped, counted by the store.
/// - A clip whose end the source never reaches (it ended, was removed, or reconnected) is cut with
///   what was read.
final class ClipRecorder: Sendable {
    let settings: ClipSettings
    let store: EventClips
    static let maxPending = 32

    private struct Request {
        var ids: [String]
        var from: Double
        var to: Double
    }

    private struct State {
        var ring: PacketRing
        var pending: [Request] = []
        var finished = false
    }

    private let state: Mutex<State>

    init(settings: ClipSettings, store: EventClips, ringBytes: Int = ClipSettings.ringBytes) {
        self.settings = settings
        self.store = store
        state = Mutex(State(ring: PacketRing(window: settings.window, maxBytes: ringBytes)))
    }

    /// The source (re)opened: what waits is cut from the last session, then a new one starts.
    /// `offset` maps its times to the pipeline's, when already known.
    func begin(_ parameters: StreamParameters?, offset: Double?) {
        let due = state.withLock { s in
            let due = s.pending.map { (request: $0, cut: s.ring.cut(from: $0.from, to: $0.to)) }
            s.pending = []
            s.finished = false
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
            s.ring.append(packet)
            return s.pending.isEmpty ? [] : Self.takeDue(&s)
        }
        hand(due)
    }

    /// The source ended or stopped: what waits is cut now, as are later requests.
    func finish() {
        let due = state.withLock { s in
            s.finished = true
            return Self.takeDue(&s)
        }
        hand(due)
    }

    /// The events `ids`, on the frame at pipeline time `time`, want a clip (one file, shared).
    func request(ids: [String], at time: Double) {
        let ids = ids.filter(EventSnapshots.isValidID)
        guard !ids.isEmpty, time.isFinite else { return }
        let request = Request(ids: ids, from: time - settings.preSeconds, to: time + settings.postSeconds)
        let (admitted, due) = state.withLock { s in
            guard s.pending.count < Self.maxPending else { return (false, [(request: Request, cut: ClipCut?)]()) }
            s.pending.append(request)
            return (true, Self.takeDue(&s))
        }
        guard admitted else {
            store.skip(ids, reason: "more than \(Self.maxPending) clips were waiting for their end")
            return
        }
        store.recording(ids)
        hand(due)
    }

    /// Requests whose end has been read (or all, once finished), with their cuts.
    private static func takeDue(_ s: inout State) -> [(request: Request, cut: ClipCut?)] {
        guard !s.pending.isEmpty else { return [] }
        var due: [(request: Request, cut: ClipCut?)] = []
        s.pending.removeAll { request in
            guard s.finished || s.ring.hasRead(past: request.to) else { return false }
            due.append((request, s.ring.cut(from: request.from, to: request.to)))
            return true
        }
        return due
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
