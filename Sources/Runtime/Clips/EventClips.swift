import Core
import Foundation
import Logging
import Synchronization
import VideoIO

/// The clips of events, remuxed from their streams' compressed packets (no re-encoding), kept as
/// `<folder>/<event id>.mp4` (or `.mov` for a codec MP4 does not hold): `GET
/// /api/v1/events/{id}/clip.mp4`. The events of one frame share one file (hard links).
///
/// - **Off the pipeline's threads**: the remuxing and the file writes run on the blocking
///   executor, at most `maxWriting` clips at once; up to `maxQueued` more wait their turn (a burst:
///   a stream that ends or loops hands over every clip that waited for its end), and one more is
///   skipped, counted, as is one whose packets were no longer held.
/// - **Bounded** by `maxCount` files, `maxBytes` and `maxAge` seconds: past any of them the oldest
///   are removed first. What was kept survives a restart.
public final class EventClips: Sendable {
    public var folder: String { store.folder }
    /// Clips remuxed at once, at most.
    public static let maxWriting = 4
    /// Clips waiting for a writer, at most.
    public static let maxQueued = 64
    /// Events whose clip is being recorded, at most (more are not told apart from unknown ones).
    static let maxRecording = 4096

    /// What a request for an event's clip finds.
    public enum Lookup: Sendable, Equatable {
        /// The clip, in this container.
        case ready(Data, ClipContainer)
        /// Kept in the other container (its codec does not fit the one asked for).
        case elsewhere(ClipContainer)
        /// Being recorded: its end has not been read yet, or it is being written.
        case recording
        /// No clip: unknown, evicted, or skipped.
        case none
    }

    /// Clips skipped, and the last reason.
    public struct Figures: Sendable, Equatable {
        public var written = 0
        public var skipped = 0
        public var lastProblem: String?
    }

    private struct Job {
        var cut: ClipCut
        var ids: [String]
        var container: ClipContainer
    }

    private struct State {
        var writing = 0
        var queued: [Job] = []
        var recording: Set<String> = []
        var figures = Figures()
    }

    private let store: BoundedFolder
    private let state = Mutex(State())
    private let logger: Logger

    /// Opens `folder` (made if missing) and counts what it holds.
    public init(
        folder: String, maxCount: Int = 200, maxBytes: Int = 1 << 30, maxAge: Double = 7 * 86400,
        logger: Logger = Logger(label: "batchline.clips")
    ) throws(OutputError) {
        store = try BoundedFolder(
            folder: folder, suffixes: ClipContainer.allCases.map { "." + $0.rawValue }, maxCount: maxCount,
            maxBytes: maxBytes, maxAge: maxAge)
        self.logger = logger
    }

    /// Written, skipped, and why the last was skipped.
    public var figures: Figures { state.withLock { $0.figures } }
    /// Clips kept now.
    public var count: Int { store.count }

    /// Event `id`'s clip in `container`. Blocking (file reads): call it from the blocking executor.
    public func clip(_ id: String, container: ClipContainer) -> Lookup {
        guard EventSnapshots.isValidID(id) else { return .none }
        store.removeExpired()
        if let data = FileManager.default.contents(atPath: store.path(id + "." + container.rawValue)) {
            return .ready(data, container)
        }
        for other in ClipContainer.allCases where other != container {
            if FileManager.default.fileExists(atPath: store.path(id + "." + other.rawValue)) {
                return .elsewhere(other)
            }
        }
        return state.withLock { $0.recording.contains(id) } ? .recording : .none
    }

    func recording(_ ids: [String]) {
        state.withLock { s in
            guard s.recording.count + ids.count <= Self.maxRecording else { return }
            s.recording.formUnion(ids)
        }
    }

    func skip(_ ids: [String], reason: String) {
        state.withLock { s in
            s.figures.skipped += 1
            s.figures.lastProblem = reason
            s.recording.subtract(ids)
        }
        logger.warning("no clip for event \(ids[0]): \(reason)")
    }

    /// Remuxes `cut` into the file of `ids` on the blocking executor (or queues it while
    /// `maxWriting` are being written); returns at once.
    func write(_ cut: ClipCut, ids: [String]) {
        guard let container = ClipContainer.best(for: cut.parameters) else {
            skip(ids, reason: "neither MP4 nor QuickTime holds \(cut.parameters.codec)")
            return
        }
        if cut.late > 0 {
            let late = String(format: "%.1f", cut.late)
            logger.notice(
                "clip of event \(ids[0]) starts \(late) s later than asked: the ring no longer held its start")
        }
        let job = Job(cut: cut, ids: ids, container: container)
        let start = state.withLock { s -> Bool? in
            if s.writing < Self.maxWriting {
                s.writing += 1
                return true
            }
            guard s.queued.count < Self.maxQueued else { return nil }
            s.queued.append(job)
            return false
        }
        switch start {
        case true?: run(job)
        case false?: break
        case nil: skip(ids, reason: "\(Self.maxWriting) clips were being written and \(Self.maxQueued) waited")
        }
    }

    private func run(_ job: Job) {
        let store = store
        let name = job.ids[0] + "." + job.container.rawValue
        Task.detached {
            let result = await BlockingExecutor.shared.run { () -> Result<(names: [String], bytes: Int), VideoError> in
                do throws(VideoError) {
                    let first = store.path(name)
                    try Remuxer.write(
                        job.cut.packets, parameters: job.cut.parameters, start: job.cut.start, to: first,
                        container: job.container)
                    let bytes = (try? FileManager.default.attributesOfItem(atPath: first)[.size] as? Int) ?? 0
                    let linked = job.ids.dropFirst().map { $0 + "." + job.container.rawValue }.filter {
                        link(first, store.path($0)) == 0
                    }
                    return .success(([name] + linked, bytes))
                } catch {
                    return .failure(error)
                }
            }
            self.finished(result, ids: job.ids)
        }
    }

    private func finished(_ result: Result<(names: [String], bytes: Int), VideoError>, ids: [String]) {
        let next = state.withLock { s -> Job? in
            s.recording.subtract(ids)
            if case .success = result { s.figures.written += 1 }
            guard !s.queued.isEmpty else {
                s.writing -= 1
                return nil
            }
            return s.queued.removeFirst()
        }
        if let next { run(next) }
        switch result {
        case .failure(let error):
            skip(ids, reason: "remuxing failed: \(error.message)")
        case .success(let kept):
            let gone = store.added(kept.names, bytes: kept.bytes)
            guard !gone.isEmpty else { return }
            let store = store
            Task.detached { await BlockingExecutor.shared.run { for name in gone { unlink(store.path(name)) } } }
        }
    }
}
