import Foundation

/// A repository in a temporary folder: `REPO/<name>/<version>/`, copied from real model folders.
public struct TemporaryRepository {
    /// The repository folder.
    public let root: URL
    /// The model's name in it.
    public let name: String
    /// `REPO/<name>`.
    public var folder: String { root.appendingPathComponent(name).path }

    /// An empty repository holding the model folder `name`.
    public init(name: String) {
        root = TestAssets.temporaryDirectory("batchline-repo")
        self.name = name
        try? FileManager.default.createDirectory(
            at: root.appendingPathComponent(name), withIntermediateDirectories: true)
    }

    /// Copies `source` (a model version folder) in as `version`; `edit` may change the copy.
    @discardableResult
    public func add(_ version: Int, from source: String, edit: (URL) throws -> Void = { _ in }) throws -> URL {
        let target = root.appendingPathComponent(name).appendingPathComponent(String(version))
        try FileManager.default.copyItem(at: URL(fileURLWithPath: source), to: target)
        try edit(target)
        return target
    }

    /// Removes it all.
    public func remove() { try? FileManager.default.removeItem(at: root) }
}
