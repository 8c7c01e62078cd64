import Core
import Foundation
import Vision

#if canImport(Glibc)
    import Glibc
#endif

/// Which version of a model to serve.
public enum VersionPolicy: Sendable, Equatable, CustomStringConvertible {
    /// The highest complete version present.
    case latest
    /// Exactly this version.
    case pinned(Int)

    /// `latest` or `pinned 3`.
    public var description: String {
        switch self {
        case .latest: "latest"
        case .pinned(let v): "pinned \(v)"
        }
    }
}

/// One version of a model in a repository, checked and ready to load.
public struct ModelVersion: Sendable, Equatable {
    /// The model's name (its folder in the repository).
    public var name: String
    /// The version number (its folder under the model).
    public var version: Int
    /// The version folder, symlinks resolved.
    public var directory: String
    /// The model file, symlinks resolved.
    public var modelFile: String
    /// The sidecar.
    public var spec: ModelSpec
}

/// A repository problem: a bad name, an unsafe path, a file too large, nothing to serve.
public struct RepositoryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem, for callers that map it (to an HTTP status, say) without reading the message.
    public enum Code: String, Sendable {
        /// The repository, model or version does not exist.
        case notFound
        /// It exists but is not complete yet (being copied).
        case incomplete
        /// A name, version, size or path that is refused.
        case invalid
        /// A version by that number is there already, with other files.
        case exists
        /// The disk is full.
        case noSpace
        /// The repository could not be written.
        case failed
    }

    /// The kind.
    public let code: Code
    /// The path concerned.
    public let path: String
    /// What is wrong.
    public let message: String
    /// `path: message`.
    public var description: String { "\(path): \(message)" }

    /// Creates an error.
    public init(path: String, message: String, code: Code = .invalid) {
        self.code = code
        self.path = path
        self.message = message
    }
}

/// A model repository on disk, `ROOT/<name>/<version>/` holding a model file and its `model.json`,
/// as Triton and TF Serving lay them out. Its contents are untrusted: names and versions are
/// validated, nothing may lead outside the root (no `..`, no symlink out), files are size-bounded,
/// and a version still being copied is not picked up.
///
/// A version counts as complete when its folder name is all digits, it holds no `.incomplete`
/// marker, its `model.json` parses and names a model file that exists and is not empty. Copy a new
/// version into a dot-folder (`.3.tmp`) and rename it to `3` when done; or write `.incomplete` first
/// and remove it last.
public struct ModelRepository: Sendable {
    /// The root, symlinks resolved.
    public let root: String
    /// The largest model file accepted, bytes.
    public var maxModelBytes: Int = 2 << 30
    /// The largest sidecar accepted, bytes.
    public var maxSidecarBytes: Int = 1 << 20

    /// Opens the repository at `root`.
    public init(root: String) throws(RepositoryError) {
        guard let resolved = Self.realPath(root), Self.isDirectory(resolved) else {
            throw RepositoryError(path: root, message: "no such repository folder", code: .notFound)
        }
        self.root = resolved
    }

    /// Whether `name` is acceptable as a model name: 1-64 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
    public static func isValidName(_ name: String) -> Bool {
        guard (1...64).contains(name.count), let first = name.unicodeScalars.first, first != "." else { return false }
        return name.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0)
        }
    }

    /// The models present (valid names only).
    public func models() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { Self.isValidName($0) && Self.isDirectory(root + "/" + $0) }.sorted()
    }

    /// Complete versions of `name`, ascending. Incomplete or unsafe versions are skipped.
    public func versions(of name: String) throws(RepositoryError) -> [Int] {
        try checkedVersions(of: name).map(\.version)
    }

    /// The complete versions of `name`, ascending, each checked once (sidecar read).
    public func checkedVersions(of name: String) throws(RepositoryError) -> [ModelVersion] {
        try numbered(name).compactMap { try? version(name, $0) }
    }

    /// Candidates the accuracy gate refused (`REPO/<name>/.N.refused`, never served), by number,
    /// with their sidecars (which hold the gate's figures).
    public func refused(of name: String) -> [(version: Int, spec: ModelSpec)] {
        guard let folder = try? modelFolder(name),
            let entries = try? FileManager.default.contentsOfDirectory(atPath: folder)
        else { return [] }
        return entries.compactMap { entry -> (Int, ModelSpec)? in
            guard entry.hasPrefix("."), entry.hasSuffix(".refused"),
                let n = Int(entry.dropFirst().dropLast(".refused".count)),
                let (spec, _) = try? ModelSpec.load(path: folder + "/" + entry)
            else { return nil }
            return (n, spec)
        }.sorted { $0.0 < $1.0 }
    }

    /// The highest complete version of `name`, checked: versions are checked from the highest number
    /// down until one is complete (the watcher asks every second).
    public func latest(of name: String) throws(RepositoryError) -> ModelVersion? {
        for v in try numbered(name).reversed() {
            if let found = try? version(name, v) { return found }
        }
        return nil
    }

    /// Removes the versions of `name` that were uploaded (`VersionUpload.marker`) beyond the `keep`
    /// uploaded last (by when, not by number), sparing those in `spared` (serving, the one before,
    /// being judged, the one just uploaded): a node that takes a version per rollout keeps a
    /// bounded repository. Versions copied in by hand are never removed. Returns the versions
    /// removed. Blocking.
    public func prune(uploadedOf name: String, keep: Int, sparing spared: Set<Int>) -> [Int] {
        guard let folder = try? modelFolder(name) else { return [] }
        let uploaded = ((try? numbered(name)) ?? []).compactMap { v -> (Int, Date)? in
            let marker = folder + "/\(v)/" + VersionUpload.marker
            guard let at = (try? FileManager.default.attributesOfItem(atPath: marker))?[.modificationDate] as? Date
            else { return nil }
            return (v, at)
        }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
        var removed: [Int] = []
        for v in uploaded.dropLast(max(0, keep)) where !spared.contains(v) {
            // Out of sight first (a dot-folder), then removed: a reader never sees half a version.
            let aside = folder + "/.removing.\(v)"
            guard rename(folder + "/\(v)", aside) == 0 else { continue }
            try? FileManager.default.removeItem(atPath: aside)
            removed.append(v)
        }
        return removed
    }

    /// Folder entries of `name` that are version numbers, ascending, unchecked.
    private func numbered(_ name: String) throws(RepositoryError) -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: try modelFolder(name))) ?? []
        return entries.compactMap(Self.versionNumber).sorted()
    }

    /// The version `policy` selects, checked.
    public func resolve(_ name: String, policy: VersionPolicy = .latest) throws(RepositoryError) -> ModelVersion {
        switch policy {
        case .pinned(let v):
            return try version(name, v)
        case .latest:
            guard let found = try latest(of: name) else {
                throw RepositoryError(
                    path: try modelFolder(name), message: "no complete version to serve", code: .incomplete)
            }
            return found
        }
    }

    /// Version `v` of `name`, checked: inside the root, complete, sizes bounded, sidecar valid.
    public func version(_ name: String, _ v: Int) throws(RepositoryError) -> ModelVersion {
        let folder = try modelFolder(name)
        guard v >= 0, v <= 999_999_999 else {
            throw RepositoryError(path: folder, message: "version \(v) out of range")
        }
        let path = folder + "/" + String(v)
        guard let dir = Self.realPath(path), Self.isDirectory(dir) else {
            throw RepositoryError(path: path, message: "no such version", code: .notFound)
        }
        return try check(folder: dir, name: name, version: v, shown: path)
    }

    /// Checks the version folder `dir` (inside the root; its real path) as a complete version `v` of
    /// `name`: no `.incomplete`, a bounded valid sidecar naming a plain file that is there, bounded
    /// and not empty. `shown` is the path errors name.
    public func check(folder dir: String, name: String, version v: Int, shown path: String) throws(RepositoryError)
        -> ModelVersion
    {
        try inside(dir, path)
        if FileManager.default.fileExists(atPath: dir + "/.incomplete") {
            throw RepositoryError(path: path, message: "still being copied (.incomplete present)", code: .incomplete)
        }
        let sidecar = dir + "/" + ModelSpec.fileName
        guard let sidecarReal = Self.realPath(sidecar) else {
            throw RepositoryError(
                path: path, message: "no \(ModelSpec.fileName): incomplete version", code: .incomplete)
        }
        try inside(sidecarReal, sidecar)
        try bounded(sidecarReal, maxSidecarBytes, sidecar)
        let spec: ModelSpec
        do {
            spec = try ModelSpec.load(path: sidecarReal).spec
        } catch {
            throw RepositoryError(path: sidecar, message: error.message)
        }
        guard !spec.file.contains("/") else {
            throw RepositoryError(path: sidecar, message: "\"file\" must be a plain file name in the version folder")
        }
        let model = dir + "/" + spec.file
        guard let modelReal = Self.realPath(model) else {
            throw RepositoryError(path: model, message: "model file missing: incomplete version", code: .incomplete)
        }
        try inside(modelReal, model)
        let size = try bounded(modelReal, maxModelBytes, model)
        guard size > 0 else {
            throw RepositoryError(path: model, message: "model file is empty: incomplete version", code: .incomplete)
        }
        return ModelVersion(name: name, version: v, directory: dir, modelFile: modelReal, spec: spec)
    }

    private func modelFolder(_ name: String) throws(RepositoryError) -> String {
        guard Self.isValidName(name) else {
            throw RepositoryError(path: root, message: "invalid model name \"\(name)\" (use A-Z a-z 0-9 . _ -, 1-64)")
        }
        let path = root + "/" + name
        guard let real = Self.realPath(path), Self.isDirectory(real) else {
            throw RepositoryError(path: path, message: "no such model in the repository", code: .notFound)
        }
        try inside(real, path)
        return real
    }

    private func inside(_ real: String, _ shown: String) throws(RepositoryError) {
        guard real.hasPrefix(root + "/") else {
            throw RepositoryError(path: shown, message: "leads outside the repository (to \(real))")
        }
    }

    @discardableResult
    private func bounded(_ real: String, _ limit: Int, _ shown: String) throws(RepositoryError) -> Int {
        let size = (try? FileManager.default.attributesOfItem(atPath: real)[.size] as? Int) ?? 0
        guard size <= limit else {
            throw RepositoryError(path: shown, message: "\(size) bytes is over the \(limit)-byte limit")
        }
        return size
    }

    static func versionNumber(_ entry: String) -> Int? {
        guard (1...9).contains(entry.count), entry.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(entry)
    }

    static func realPath(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// When `path` is a model folder of a repository (`REPO/<name>`, no sidecar of its own), the
    /// repository and the model's name; nil for anything else.
    public static func modelFolder(_ path: String) throws(RepositoryError) -> (
        repository: ModelRepository, name: String
    )? {
        guard isDirectory(path), !FileManager.default.fileExists(atPath: path + "/" + ModelSpec.fileName) else {
            return nil
        }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        return (try ModelRepository(root: url.deletingLastPathComponent().path), url.lastPathComponent)
    }

    /// The one identity of a model however it is named (`REPO/name`, `REPO/../REPO/name`,
    /// `./REPO/name/`): its real path, symbolic links resolved; a path that does not exist,
    /// standardized (`.` and `..` gone). A version folder (`REPO/name/1`) stays its own identity: it
    /// pins that version, where the model folder follows the latest.
    public static func canonicalPath(_ path: String) -> String {
        realPath(path) ?? URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The control socket a run serving `REPO/<name>` listens on unless told otherwise, so that
    /// `batchline models` finds it: `<hash of the folder's real path>.sock` in `$XDG_RUNTIME_DIR/batchline`,
    /// or in `/tmp/batchline-<uid>` (a folder only its owner may use).
    public static func controlSocketPath(modelFolder path: String) -> String {
        let real = realPath(path) ?? URL(fileURLWithPath: path).standardizedFileURL.path
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in real.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let folder = runtime.map { $0 + "/batchline" } ?? "/tmp/batchline-\(getuid())"
        return folder + "/" + String(hash, radix: 16) + ".sock"
    }

    /// For `--model PATH`: a model folder of a repository (`REPO/<name>`, holding numbered versions)
    /// resolves to the version `policy` picks; anything else (a version folder, a sidecar, a model
    /// file) is returned as it is. Returns the path to load.
    public static func resolveModelArgument(_ path: String, policy: VersionPolicy = .latest) throws(RepositoryError)
        -> String
    {
        guard let (repository, name) = try modelFolder(path) else {
            if case .pinned = policy { throw pinnedNeedsFolder(path) }
            return path
        }
        return try repository.resolve(name, policy: policy).directory
    }

    /// The error for `--model-version` with a model that is not a repository model folder.
    public static func pinnedNeedsFolder(_ path: String) -> RepositoryError {
        RepositoryError(path: path, message: "a pinned version needs a repository model folder (REPO/<name>)")
    }

}

extension RepositoryError: CodedError {
    /// Not there, being copied (not now), or refused.
    public var errorCode: ErrorCode {
        switch code {
        case .notFound: .notFound
        case .incomplete: .unavailable
        case .invalid: .invalid
        case .exists: .conflict
        case .noSpace: .noSpace
        case .failed: .failed
        }
    }
}
