import Foundation
import ModelRegistry
import Synchronization

/// Looks at a repository model folder every `interval` seconds and swaps to a higher version when one
/// appears, once it is complete (the repository's checks) and has stopped changing (the same files,
/// sizes and times at two looks in a row, the newest over a second old), so that a version still
/// being copied is never picked up. Versions rolled back from or rejected are left alone until
/// their files change.
final class RepositoryWatcher: Sendable {
    private let stopped = Atomic<Bool>(false)

    init(repository: ModelRepository, name: String, models: ModelManager, interval: Double) {
        let thread = Thread { [self] in
            var seen: [Int: [String]] = [:]
            var refused: [Int: [String]] = [:]
            while !self.stopped.load(ordering: .acquiring) {
                Thread.sleep(forTimeInterval: interval)
                guard !self.stopped.load(ordering: .acquiring),
                    let latest = (try? repository.versions(of: name))?.last,
                    latest > models.status.version, !models.status.swapping
                else { continue }
                let mark = Self.fingerprint(repository.root + "/" + name + "/" + String(latest))
                defer { seen[latest] = mark }
                guard let mark, mark == seen[latest], mark != refused[latest] else { continue }
                if models.refusedVersions.contains(latest) && refused[latest] == nil { refused[latest] = mark }
                guard mark != refused[latest] else { continue }
                do {
                    try models.activate(latest, trigger: "watch", wait: 5)
                } catch {
                    refused[latest] = mark
                }
            }
        }
        thread.name = "batchline-watch"
        thread.start()
    }

    func stop() { stopped.store(true, ordering: .releasing) }

    /// Names, sizes and modification times of the folder's files; nil while anything changed within
    /// the last second.
    static func fingerprint(_ folder: String) -> [String]? {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder) else { return nil }
        var lines: [String] = []
        for name in names.sorted() {
            guard let a = try? fm.attributesOfItem(atPath: folder + "/" + name),
                let modified = a[.modificationDate] as? Date
            else { return nil }
            if Date().timeIntervalSince(modified) < 1 { return nil }
            lines.append("\(name) \(a[.size] as? Int ?? -1) \(modified.timeIntervalSince1970)")
        }
        return lines
    }
}
