import Foundation
import Runtime
import TestSupport
import Testing

@Suite("Event snapshots: kept as files, bounded")
struct EventSnapshotsTests {
    static func file(_ dir: URL, _ name: String, bytes: Int, age: Double) throws {
        let url = dir.appendingPathComponent(name)
        try Data(repeating: 0xFF, count: bytes).write(to: url)
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-age)], ofItemAtPath: url.path)
    }

    @Test("What a restart finds is counted and held to the bounds, oldest first: past the age, past the count")
    func boundsAtStart() throws {
        let dir = TestAssets.temporaryDirectory("snapshots")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.file(dir, "run-a-1.jpg", bytes: 100, age: 7200)
        try Self.file(dir, "run-a-2.jpg", bytes: 100, age: 30)
        try Self.file(dir, "run-a-3.jpg", bytes: 100, age: 20)
        try Self.file(dir, "run-a-4.jpg", bytes: 100, age: 10)
        try Self.file(dir, "notes.txt", bytes: 10, age: 99999)
        let store = try EventSnapshots(folder: dir.path, maxCount: 2, maxAge: 3600)
        #expect(store.count == 2)
        #expect(store.jpeg("run-a-1") == nil && store.jpeg("run-a-2") == nil)
        #expect(store.jpeg("run-a-3")?.count == 100 && store.jpeg("run-a-4")?.count == 100)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("notes.txt").path))
        // Ids that could leave the folder are not ids.
        #expect(store.jpeg("../run-a-3") == nil && store.jpeg(".hidden") == nil && store.jpeg("") == nil)
        #expect(!EventSnapshots.isValidID(String(repeating: "a", count: 201)))
    }

    @Test("A folder that cannot be made is one error naming it")
    func unwritable() {
        #expect(throws: OutputError.self) { try EventSnapshots(folder: "/proc/nope/snapshots") }
    }
}
