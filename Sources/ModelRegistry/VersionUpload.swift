import Core
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One version arriving as an archive (`VersionArchiveReader`'s events) into a repository: written
/// into a dot-folder of the repository (`.upload.NAME.N.RANDOM`, never a model), each file
/// synced, checked as any version of the repository is (`ModelRepository.version`), then renamed to
/// `N` at once, so that a reader sees all of it or none. A version already there with the same
/// files is `present`; with other files, refused. Anything refused or failed removes what was
/// written. Blocking: run it on the blocking executor, one upload per model at a time (the caller
/// holds that).
public final class VersionUpload: @unchecked Sendable {
    /// What the upload came to.
    public enum Outcome: String, Sendable {
        /// Written, checked and in place.
        case added
        /// The repository held this version with these very files already.
        case present
    }

    public let repository: ModelRepository
    public let name: String
    public let version: Int
    /// The dot-folder the files go to first.
    let staging: String
    private var handle: FileHandle?
    private var current: String?
    private var written: [String] = []

    /// Begins an upload of version `version` of `name` into `repository` (a staging folder a crash
    /// left behind is removed; the model's folder is made at the commit when it is new).
    public init(repository: ModelRepository, name: String, version: Int) throws(RepositoryError) {
        guard ModelRepository.isValidName(name) else {
            throw RepositoryError(
                path: repository.root,
                message: "invalid model name \"\(name.prefix(80))\" (use A-Z a-z 0-9 . _ -, 1-64)")
        }
        guard (0...999_999_999).contains(version) else {
            throw RepositoryError(path: repository.root + "/" + name, message: "version \(version) out of range")
        }
        self.repository = repository
        self.name = name
        self.version = version
        // Beside the models (a dot-folder is never a model), its own name however many upload at
        // once into one repository; a refused upload leaves no trace, one a crash cut short is
        // removed by the next upload an hour later.
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        staging = repository.root + "/.upload.\(name).\(version).\(token)"
        Self.removeStale(in: repository.root, olderThan: 3600)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw Self.writeError(error, staging)
        }
    }

    /// Writes what the archive gave.
    public func apply(_ events: [VersionArchiveReader.Event]) throws(RepositoryError) {
        for event in events {
            do {
                switch event {
                case .file(let file, _):
                    try close()
                    let path = staging + "/" + file
                    guard FileManager.default.createFile(atPath: path, contents: nil) else {
                        throw RepositoryError(path: path, message: "cannot be created")
                    }
                    handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                    current = path
                    written.append(file)
                case .data(let bytes):
                    try handle?.write(contentsOf: bytes)
                case .end:
                    try close()
                }
            } catch let error as RepositoryError {
                throw error
            } catch {
                throw Self.writeError(error, current ?? staging)
            }
        }
    }

    /// Checks the staged version as the repository checks any, and puts it in place.
    public func commit() throws(RepositoryError) -> Outcome {
        do {
            try close()
        } catch {
            throw Self.writeError(error, current ?? staging)
        }
        let folder = repository.root + "/" + name
        let target = folder + "/" + String(version)
        let staged: ModelVersion
        do {
            staged = try repository.check(folder: staging, name: name, version: version, shown: target)
        } catch {
            // What is missing from an upload is missing for good: the request's fault.
            throw RepositoryError(path: error.path, message: error.message, code: .invalid)
        }
        if FileManager.default.fileExists(atPath: target) {
            guard sameFiles(staged, target) else {
                throw RepositoryError(
                    path: target, message: "version \(version) exists with other files: upload another number",
                    code: .exists)
            }
            discard()
            return .present
        }
        if !ModelRepository.isDirectory(folder) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            } catch {
                throw Self.writeError(error, folder)
            }
        }
        guard let real = ModelRepository.realPath(folder), real.hasPrefix(repository.root + "/") else {
            throw RepositoryError(path: folder, message: "leads outside the repository")
        }
        // Marked as sent (what `ModelRepository.prune(uploadedOf:)` may remove later), then synced
        // before it shows (each file, then the folder): a crash after the rename leaves a whole version.
        _ = FileManager.default.createFile(atPath: staging + "/" + Self.marker, contents: nil)
        Self.sync(folder: staging)
        guard rename(staging, real + "/" + String(version)) == 0 else {
            let code = errno
            let why = String(cString: strerror(code))
            throw RepositoryError(
                path: target, message: "cannot be put in place: \(why)",
                code: code == EEXIST || code == ENOTEMPTY ? .exists : code == ENOSPC ? .noSpace : .failed)
        }
        Self.sync(folder: real)
        return .added
    }

    /// Removes what was written.
    public func discard() {
        try? handle?.close()
        handle = nil
        try? FileManager.default.removeItem(atPath: staging)
    }

    private func close() throws {
        guard let handle else { return }
        self.handle = nil
        try handle.synchronize()
        try handle.close()
    }

    /// Whether the version at `target` holds exactly the staged files, byte for byte.
    private func sameFiles(_ staged: ModelVersion, _ target: String) -> Bool {
        let there = (try? FileManager.default.contentsOfDirectory(atPath: target))?.filter { !$0.hasPrefix(".") }
        guard let there, Set(there) == Set(written) else { return false }
        return written.allSatisfy { file in
            FileManager.default.contentsEqual(atPath: staging + "/" + file, andPath: target + "/" + file)
        }
    }

    /// The file that marks a version as uploaded (a dot-file: not part of the version).
    public static let marker = ".uploaded"

    /// Removes staging folders (`.upload.*`) older than `age` seconds: what a crash left.
    static func removeStale(in root: String, olderThan age: Double) {
        let files = FileManager.default
        for entry in (try? files.contentsOfDirectory(atPath: root)) ?? [] where entry.hasPrefix(".upload.") {
            let path = root + "/" + entry
            guard let modified = (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                Date().timeIntervalSince(modified) > age
            else { continue }
            try? files.removeItem(atPath: path)
        }
    }

    static func sync(folder: String) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = Glibc.close(fd)
    }

    /// A failed write as the repository's error: a full disk is `noSpace`.
    static func writeError(_ error: any Error, _ path: String) -> RepositoryError {
        let ns = error as NSError
        let full =
            (ns.domain == NSPOSIXErrorDomain && ns.code == Int(ENOSPC))
            || (ns.domain == NSCocoaErrorDomain && ns.code == NSFileWriteOutOfSpaceError)
            || (ns.userInfo[NSUnderlyingErrorKey] as? NSError).map {
                $0.domain == NSPOSIXErrorDomain && $0.code == Int(ENOSPC)
            } ?? false
        if full { return RepositoryError(path: path, message: "the disk is full", code: .noSpace) }
        let readOnly = ns.domain == NSPOSIXErrorDomain && (ns.code == Int(EROFS) || ns.code == Int(EACCES))
        return RepositoryError(
            path: path,
            message: readOnly ? "the repository cannot be written (read-only)" : "cannot be written: \(error)",
            code: .failed)
    }
}
