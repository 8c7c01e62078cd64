import Analytics
import Core
import Foundation
import Synchronization
import VideoIO
import Vision

/// The snapshot of each analytics event: the frame it happened on with the frame's boxes drawn
/// (the event's track among them), JPEG, kept as `<folder>/<event id>.jpg`
/// (`GET /api/v1/events/{id}/snapshot.jpg`). The events of one frame share one file (hard links).
///
/// - **Off the output's thread**: the output hands the frame over (no copy: its pixels are shared)
///   and returns; drawing and encoding run on the blocking executor, at most `maxEncoding` frames
///   at once. A frame that finds them all busy gets no snapshot, counted in `skipped`.
/// - **Bounded** by `maxCount` files, `maxBytes` and `maxAge` seconds: past any of them the oldest
///   are removed first. What was kept survives a restart (the folder is read at start).
public final class EventSnapshots: Sendable {
    public var folder: String { store.folder }
    public var maxCount: Int { store.maxCount }
    public var maxBytes: Int { store.maxBytes }
    public var maxAge: Double { store.maxAge }
    /// Frames being drawn and encoded at once, at most.
    public static let maxEncoding = 2

    private struct State {
        var encoding = 0
        var skipped = 0
    }

    private let store: BoundedFolder
    private let state = Mutex(State())

    /// Opens `folder` (made if missing) and counts what it holds.
    public init(folder: String, maxCount: Int = 1000, maxBytes: Int = 256 << 20, maxAge: Double = 7 * 86400)
        throws(OutputError)
    {
        store = try BoundedFolder(
            folder: folder, suffixes: [".jpg"], maxCount: maxCount, maxBytes: maxBytes, maxAge: maxAge)
    }

    /// Snapshots skipped because the encoders were busy.
    public var skipped: Int { state.withLock { $0.skipped } }
    /// Snapshots kept now.
    public var count: Int { store.count }

    /// Whether `id` can name a snapshot: 1-200 of `A-Z a-z 0-9 _ . -`, not starting with a dot.
    public static func isValidID(_ id: String) -> Bool {
        let b = Array(id.utf8)
        return (1...200).contains(b.count) && b[0] != UInt8(ascii: ".")
            && b.allSatisfy { c in
                (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                    || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
            }
    }

    /// The JPEG of event `id`, when it is kept (those past `maxAge` go first, even on a node that has
    /// had no event since). Blocking (file reads): call it from the blocking executor.
    public func jpeg(_ id: String) -> Data? {
        guard Self.isValidID(id) else { return nil }
        store.removeExpired()
        return FileManager.default.contents(atPath: store.path(id + ".jpg"))
    }

    /// Hands the frame of `events` over for drawing and encoding; returns at once.
    func capture(_ frame: VideoFrame, detections: [Detection], events: [AnalyticsEvent]) {
        let ids = events.map(\.id).filter(Self.isValidID)
        guard frame.hasPicture, !ids.isEmpty else { return }
        let admitted = state.withLock { s in
            guard s.encoding < Self.maxEncoding else {
                s.skipped += 1
                return false
            }
            s.encoding += 1
            return true
        }
        guard admitted else { return }
        let folder = folder
        Task.detached {
            // Drawing, encoding and the file writes run on the blocking executor, never on the pool.
            let kept = try? await BlockingExecutor.shared.run {
                () throws(VideoError) -> (names: [String], bytes: Int)? in
                var pixels = frame.pixels
                Annotator().draw(detections, on: &pixels, width: frame.width, height: frame.height)
                let jpeg = try JPEGEncoder.encode(rgb: pixels, width: frame.width, height: frame.height)
                let first = folder + "/" + ids[0] + ".jpg"
                guard FileManager.default.createFile(atPath: first, contents: Data(jpeg)) else { return nil }
                let linked = ids.dropFirst().filter { link(first, folder + "/" + $0 + ".jpg") == 0 }
                return (([ids[0]] + linked).map { $0 + ".jpg" }, jpeg.count)
            }
            self.stored(kept.flatMap { $0 })
        }
    }

    /// Counts what the encoder wrote (the files of one frame), then keeps the store in its bounds.
    private func stored(_ kept: (names: [String], bytes: Int)?) {
        defer { state.withLock { $0.encoding -= 1 } }
        guard let kept else { return }
        let gone = store.added(kept.names, bytes: kept.bytes)
        guard !gone.isEmpty else { return }
        let store = store
        Task.detached { await BlockingExecutor.shared.run { for name in gone { unlink(store.path(name)) } } }
    }
}
