import Foundation

/// A small tmpfs mounted for a test (a disk that fills), unmounted by `remove`. Mounting needs
/// privileges (root, or CAP_SYS_ADMIN in a container); `make` returns nil where the machine does
/// not allow it, and the tests that need one say they were skipped.
public final class SmallDisk: Sendable {
    /// Where it is mounted.
    public let path: String

    private init(path: String) { self.path = path }

    /// Whether this machine mounts one (tried once, with a tiny one, for the tests' traits).
    public static let canMount: Bool = {
        guard let disk = make(kilobytes: 64).disk else { return false }
        disk.remove()
        return true
    }()

    /// A tmpfs of `kilobytes` KiB, or nil (with why) when this machine will not mount one.
    public static func make(kilobytes: Int) -> (disk: SmallDisk?, why: String?) {
        let dir = TestAssets.temporaryDirectory("small-disk")
        guard
            let result = try? runProcess(
                URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", dir.path],
                timeout: 30), result.status == 0
        else {
            try? FileManager.default.removeItem(at: dir)
            return (nil, "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
        }
        return (SmallDisk(path: dir.path), nil)
    }

    /// Fills the disk: a file takes every byte left. Returns its path (remove it to free the space).
    public func fill() throws -> String {
        let filler = path + "/filler"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler, isDirectory: false).creating())
        defer { try? handle.close() }
        let block = Data(count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
        return filler
    }

    /// Unmounts it and removes its folder.
    public func remove() {
        _ = try? runProcess(URL(fileURLWithPath: "/bin/umount"), ["-l", path], timeout: 30)
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension URL {
    /// The file, created empty when it is not there.
    fileprivate func creating() -> URL {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        return self
    }
}
