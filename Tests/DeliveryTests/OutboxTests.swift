import Foundation
import TestSupport
import Testing

@testable import Delivery

@Suite("Outbox: durable, bounded, in order")
struct OutboxTests {
    static func event(_ i: Int, bytes: Int = 100) -> (key: String, payload: Data) {
        ("e\(i)", Data(repeating: UInt8(i % 256), count: bytes))
    }

    @Test("Appends come back in order, leave only when removed, and survive reopening the file")
    func inOrderAndDurable() async throws {
        let dir = TestAssets.temporaryDirectory("outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.sqlite").path
        do {
            let outbox = try Outbox(path: path, maxBytes: 1 << 20)
            outbox.append(stream: "s1", events: (0..<5).map { Self.event($0) })
            outbox.append(stream: "s2", events: [Self.event(5)], counts: Data("c".utf8))
            #expect(outbox.depth == 7)
            let all = try await outbox.next(after: 0, limit: 100)
            #expect(all.map(\.key) == ["e0", "e1", "e2", "e3", "e4", "e5", "counts"])
            #expect(all.last?.kind == .counts && all.last?.stream == "s2")
            try await outbox.remove([all[0].seq, all[2].seq])
            #expect(outbox.depth == 5)
            let page = try await outbox.next(after: all[1].seq, limit: 2)
            #expect(page.map(\.key) == ["e3", "e4"])
        }
        // Reopened: what was not removed is there, in order, and the reader is woken at once.
        let again = try Outbox(path: path, maxBytes: 1 << 20)
        #expect(again.depth == 5)
        #expect(try await again.next(after: 0, limit: 100).map(\.key) == ["e1", "e3", "e4", "e5", "counts"])
        var wake = again.wake.makeAsyncIterator()
        #expect(await wake.next() != nil)
    }

    @Test("A stream's newer counts replace its waiting ones; another stream's stay")
    func countsCoalesce() async throws {
        let dir = TestAssets.temporaryDirectory("outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outbox = try Outbox(path: dir.appendingPathComponent("c.sqlite").path, maxBytes: 1 << 20)
        outbox.append(stream: "a", events: [Self.event(1)], counts: Data("a1".utf8))
        outbox.append(stream: "b", events: [], counts: Data("b1".utf8))
        outbox.append(stream: "a", events: [Self.event(2)], counts: Data("a2".utf8))
        let all = try await outbox.next(after: 0, limit: 100)
        #expect(
            all.map {
                String(decoding: $0.payload, as: UTF8.self).count <= 2
                    ? String(decoding: $0.payload, as: UTF8.self) : $0.key
            } == ["e1", "b1", "e2", "a2"])
        #expect(outbox.depth == 4)
        #expect(outbox.dropped == 0)
    }

    @Test("Past its bound the oldest are dropped and counted; the bytes held stay under the bound")
    func bounded() async throws {
        let dir = TestAssets.temporaryDirectory("outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outbox = try Outbox(path: dir.appendingPathComponent("b.sqlite").path, maxBytes: 1 << 16)
        let size = 1000
        for i in 0..<200 { outbox.append(stream: "s", events: [Self.event(i, bytes: size)]) }
        #expect(outbox.bytes <= 1 << 16)
        let kept = try await outbox.next(after: 0, limit: 1000)
        #expect(kept.count == outbox.depth)
        #expect(outbox.dropped == 200 - kept.count && outbox.dropped > 0)
        // The newest are the ones kept, in order.
        #expect(kept.map(\.key) == (200 - kept.count..<200).map { "e\($0)" })
    }

    @Test(
        "A file that is not a database is moved aside and a new outbox begun; a folder that cannot be written is one line"
    )
    func hostileFiles() throws {
        let dir = TestAssets.temporaryDirectory("outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.sqlite").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let outbox = try Outbox(path: path, maxBytes: 1 << 20)
        let aside = try #require(outbox.recovered)
        #expect(FileManager.default.fileExists(atPath: aside))
        outbox.append(stream: "s", events: [Self.event(1)])
        #expect(outbox.depth == 1 && outbox.failure == nil)

        #expect(throws: SinkError.self) { try Outbox(path: "/proc/no-such/o.sqlite", maxBytes: 1 << 20) }
        do {
            _ = try Outbox(path: "/proc/no-such/o.sqlite", maxBytes: 1 << 20)
        } catch {
            #expect(!error.description.contains("\n") && error.description.contains("/proc/no-such/o.sqlite"))
        }
    }
}
