import Synchronization
import VideoIO

/// Why the detector skipped a frame its tracker answers (`batchline_frames_skipped_total{reason}`).
enum SkipReason: String, Sendable, Equatable {
    /// The stream's inference interval.
    case interval
    /// The stream's motion gate: its scene had not changed.
    case motion
}

/// Frames that never reached inference, by stream: shed (with the reason), or passed to the
/// stream's tracker (a tracked stream's interval skipped them). The output writes them in their
/// stream's order: a shed frame as a gap, a tracked one as the tracker's answer.
final class DropLog: Sendable {
    struct Drop: Sendable {
        /// Why the frame did not reach inference.
        enum Kind: Sendable, Equatable {
            /// Shed under overload, for this reason (`drop-oldest`, `skip`).
            case shed(String)
            /// Left to the tracker: by the stream's inference interval, or its motion gate.
            case tracked(SkipReason)
        }

        var index: Int
        var pts: Double
        var kind: Kind
        /// When it was decoded (`Clock.now`): the start of a tracked frame's lag.
        var arrival = 0.0
        /// A tracked frame's picture, kept when the stream's annotated video needs it.
        var frame: VideoFrame? = nil

        /// Whether the tracker answers it.
        var isTracked: Bool {
            if case .tracked = kind { return true }
            return false
        }

        /// The shed reason, nil for a tracked frame.
        var reason: String? {
            if case .shed(let why) = kind { return why }
            return nil
        }
    }

    private let drops = Mutex<[Int: [Drop]]>([:])

    /// Records a frame shed for `reason`.
    func record(stream: Int, index: Int, pts: Double, reason: String) {
        drops.withLock { $0[stream, default: []].append(Drop(index: index, pts: pts, kind: .shed(reason))) }
    }

    /// Records a frame left to the tracker for `reason`, decoded at `arrival`; its picture with it
    /// when the annotated video needs it (`keep`).
    func recordTracked(stream: Int, frame: VideoFrame, arrival: Double, keep: Bool, reason: SkipReason = .interval) {
        let drop = Drop(
            index: frame.index, pts: frame.pts, kind: .tracked(reason), arrival: arrival, frame: keep ? frame : nil)
        drops.withLock { $0[stream, default: []].append(drop) }
    }

    /// Removes and returns the stream's drops that follow each other from index `from` on (only
    /// tracked frames with `trackedOnly`).
    func takeRun(stream: Int, from: Int, trackedOnly: Bool = false) -> [Drop] {
        drops.withLock { all in
            guard var list = all[stream], !list.isEmpty else { return [] }
            list.sort { $0.index < $1.index }
            var n = 0
            while n < list.count && list[n].index == from + n && (!trackedOnly || list[n].isTracked) { n += 1 }
            guard n > 0 else { return [] }
            all[stream] = Array(list[n...])
            return Array(list[..<n])
        }
    }

    /// Forgets a stream that is complete.
    func forget(stream: Int) { _ = drops.withLock { $0.removeValue(forKey: stream) } }

    /// Removes and returns stream's drops with index below `limit` (all of them for nil), in index order.
    func take(stream: Int, below limit: Int?) -> [Drop] {
        drops.withLock { all in
            let list = all[stream] ?? []
            let taken = list.filter { limit == nil || $0.index < limit! }.sorted { $0.index < $1.index }
            all[stream] = list.filter { limit != nil && $0.index >= limit! }
            return taken
        }
    }
}
