import Core
import Foundation
import ModelRegistry
import Synchronization

/// Looks at a repository model folder every `interval` seconds and swaps to a higher version when one
/// appears, once it is complete (the repository's checks) and has stopped changing (the same files,
/// sizes and times at two looks in a row, the newest over a second old), so that a version still
/// being copied is never picked up. Versions rolled back from or rejected are left alone until
/// their files change.
package final class RepositoryWatcher: Sendable {
    private let task: Task<Void, Never>

    package init(repository: ModelRepository, name: String, models: ModelManager, interval: Double) {
        task = Task.detached {
            var seen: [Int: [String]] = [:]
            var refused: [Int: [String]] = [:]
            // Only versions above every one served so far are taken up: after a manual switch to an
            // older version, the watcher does not switch back on its own.
            var highest = models.status.version
            // A look every `interval` (a timer: a folder tells nobody when it changes); ends when stopped.
            while (try? await Task.sleep(for: .seconds(interval))) != nil {
                let status = models.status
                highest = max(highest, status.version)
                guard !status.swapping else { continue }
                let top = highest
                // Reading the folder is file I/O: on the blocking executor, not the cooperative pool.
                let look = await BlockingExecutor.shared.run { () -> (Int, [String]?)? in
                    guard let latest = (try? repository.latest(of: name))??.version, latest > top else { return nil }
                    return (latest, Self.fingerprint(repository.root + "/" + name + "/" + String(latest)))
                }
                guard let (latest, mark) = look else { continue }
                defer { seen[latest] = mark }
                // Complete and unchanged since the last look; and not refused as it is now.
                guard let mark, mark == seen[latest], mark != refused[latest] else { continue }
                if models.refusedVersions.contains(latest) && refused[latest] == nil {
                    refused[latest] = mark
                    continue
                }
                do {
                    try await models.activate(latest, trigger: "watch", wait: .seconds(5))
                    highest = max(highest, latest)
                } catch {
                    // Rejected or rolled back: not again until its files change. Anything else
                    // (another swap under way, the run ending) is tried again at the next look.
                    if models.refusedVersions.contains(latest) { refused[latest] = mark }
                }
            }
        }
    }

    /// Stops watching: the next look does not happen, a swap it waits on is not waited for.
    package func stop() { task.cancel() }

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
