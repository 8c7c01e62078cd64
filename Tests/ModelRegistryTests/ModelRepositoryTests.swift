import Foundation
import TestSupport
import Testing
import Vision

@testable import ModelRegistry

@Suite("Model repository")
struct ModelRepositoryTests {
    /// A repository with the real detector as versions 1 and 2 of "people".
    func makeRepository() throws -> URL {
        let root = TestAssets.temporaryDirectory("repo")
        for v in [1, 2] {
            let dir = root.appendingPathComponent("people/\(v)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let sidecar = try String(contentsOfFile: TestAssets.detector + "/model.json", encoding: .utf8)
                .replacingOccurrences(of: "\"pedestrian-ssdlite\"", with: "\"people\"")
                .replacingOccurrences(of: "\"version\": \"1\"", with: "\"version\": \"\(v)\"")
            try sidecar.write(to: dir.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(
                atPath: TestAssets.detectorFile, toPath: dir.appendingPathComponent("frozen_inference_graph.pb").path)
        }
        return root
    }

    @Test("latest serves the highest complete version; pinned serves the one asked for")
    func policies() throws {
        let root = try makeRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = try ModelRepository(root: root.path)
        #expect(repo.models() == ["people"])
        #expect(try repo.versions(of: "people") == [1, 2])
        #expect(try repo.resolve("people").version == 2)
        #expect(try repo.resolve("people", policy: .pinned(1)).spec.version == "1")
        #expect(throws: RepositoryError.self) { try repo.resolve("people", policy: .pinned(7)) }
        let path = try ModelRepository.resolveModelArgument(root.appendingPathComponent("people").path)
        #expect(path.hasSuffix("/people/2"))
    }

    @Test("A version still being copied is not picked up")
    func incomplete() throws {
        let root = try makeRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        // 3: sidecar but no model file yet; 4: marked .incomplete; .5.tmp: a dot-folder being written.
        for v in ["3", "4", ".5.tmp"] {
            try fm.createDirectory(at: root.appendingPathComponent("people/\(v)"), withIntermediateDirectories: true)
            try fm.copyItem(
                atPath: root.appendingPathComponent("people/1/model.json").path,
                toPath: root.appendingPathComponent("people/\(v)/model.json").path)
        }
        try fm.copyItem(
            atPath: TestAssets.detectorFile,
            toPath: root.appendingPathComponent("people/4/frozen_inference_graph.pb").path)
        #expect(fm.createFile(atPath: root.appendingPathComponent("people/4/.incomplete").path, contents: Data()))
        let repo = try ModelRepository(root: root.path)
        #expect(try repo.versions(of: "people") == [1, 2])
        #expect(try repo.resolve("people").version == 2)
        #expect {
            _ = try repo.version("people", 3)
        } throws: { "\($0)".contains("model file missing") }
        #expect {
            _ = try repo.version("people", 4)
        } throws: { "\($0)".contains(".incomplete") }
    }

    @Test("Names that could escape, and symlinks leading out, are refused")
    func untrusted() throws {
        let root = try makeRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = try ModelRepository(root: root.path)
        for name in ["..", "../etc", "a/b", ".hidden", "", String(repeating: "x", count: 65)] {
            #expect(throws: RepositoryError.self, "name \(name)") { try repo.resolve(name) }
        }
        // A version folder that is a symlink to somewhere else.
        let outside = TestAssets.temporaryDirectory("outside")
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.copyItem(
            atPath: root.appendingPathComponent("people/1/model.json").path,
            toPath: outside.appendingPathComponent("model.json").path)
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("people/9").path, withDestinationPath: outside.path)
        #expect {
            _ = try repo.version("people", 9)
        } throws: { "\($0)".contains("leads outside the repository") }
        // A model file that is a symlink out of the repository.
        let v2 = root.appendingPathComponent("people/2/frozen_inference_graph.pb").path
        try FileManager.default.removeItem(atPath: v2)
        try FileManager.default.createSymbolicLink(atPath: v2, withDestinationPath: TestAssets.detectorFile)
        #expect {
            _ = try repo.version("people", 2)
        } throws: { "\($0)".contains("leads outside the repository") }
        #expect(try repo.versions(of: "people") == [1])
    }

    @Test("Files over the size bound are refused with the sizes")
    func sizeBound() throws {
        let root = try makeRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        var repo = try ModelRepository(root: root.path)
        repo.maxModelBytes = 1_000_000
        #expect {
            _ = try repo.version("people", 1)
        } throws: { "\($0)".contains("over the 1000000-byte limit") }
    }
}
