import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A folder of files kept within a count, a size and an age, oldest removed first: the store under
/// event snapshots and clips. What it holds survives a restart (the folder is read at start, and
/// what a crash left half-written, `*.part`, is removed).
///
/// It only keeps the books: its callers write the files (then `added`) and remove what it hands
/// back, both on the blocking executor. Names are checked by `EventSnapshots.isValidID` first.
final class BoundedFolder: Sendable {
    let folder: String
    let maxCount: Int
    let maxBytes: Int
    let maxAge: Double

    private struct Kept {
        var name: String
        var bytes: Int
        var time: Double
    }

    private struct Books {
        /// Oldest first.
        var kept: [Kept] = []
        var bytes = 0
    }

    private let books = Mutex(Books())

    /// Opens `folder` (made if missing), counts its files ending in one of `suffixes`, and removes
    /// what is past the bounds.
    init(folder: String, suffixes: [String], maxCount: Int, maxBytes: Int, maxAge: Double) throws(OutputError) {
        self.folder = folder
        self.maxCount = max(1, maxCount)
        self.maxBytes = max(1 << 20, maxBytes)
        self.maxAge = max(1, maxAge)
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw OutputError(path: folder, message: error.localizedDescription)
        }
        let names = (try? files.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasSuffix(".part") { unlink(folder + "/" + name) }
        var kept: [Kept] = names.filter { name in suffixes.contains { name.hasSuffix($0) } }.compactMap { name in
            guard let a = try? files.attributesOfItem(atPath: folder + "/" + name) else { return nil }
            return Kept(
                name: name, bytes: (a[.size] as? Int) ?? 0,
                time: (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        }
        kept.sort { ($0.time, $0.name) < ($1.time, $1.name) }
        books.withLock { b in
            b.kept = kept
            b.bytes = kept.reduce(0) { $0 + $1.bytes }
        }
        removeExpired()
    }

    /// Files kept now.
    var count: Int { books.withLock { $0.kept.count } }

    /// The path of `name` in the folder.
    func path(_ name: String) -> String { folder + "/" + name }

    /// Counts files just written: `names` share `bytes` (hard links of one file, counted once).
    /// Returns the names past the bounds now, for the caller to remove.
    func added(_ names: [String], bytes: Int) -> [String] {
        let now = Date().timeIntervalSince1970
        books.withLock { b in
            for (i, name) in names.enumerated() {
                b.kept.append(Kept(name: name, bytes: i == 0 ? bytes : 0, time: now))
            }
            b.bytes += bytes
        }
        return evicted(now: now)
    }

    /// Removes what is past its age now (a node that has had no event for a while). Blocking.
    func removeExpired() {
        for name in evicted(now: Date().timeIntervalSince1970) { unlink(path(name)) }
    }

    /// Forgets the oldest past the bounds; their names (for the caller to remove).
    private func evicted(now: Double) -> [String] {
        books.withLock { b in
            var gone: [String] = []
            while let oldest = b.kept.first, b.kept.count > maxCount || b.bytes > maxBytes || now - oldest.time > maxAge
            {
                b.kept.removeFirst()
                b.bytes -= oldest.bytes
                gone.append(oldest.name)
            }
            return gone
        }
    }
}
