import Foundation
import GRDB
import Synchronization

/// A sink's durable, bounded queue of messages: an event enters it before it is sent and leaves it
/// only when the sink's peer acknowledged it (`remove`), so that a broker outage, a network cut or
/// a restart of the process (a SIGKILL included) loses nothing that entered.
///
/// - **Durable**: SQLite in WAL mode with `synchronous = NORMAL`: a committed append survives the
///   process being killed at any point; a power cut may take the last appends (never a half one).
/// - **Bounded** by `maxBytes` (payloads plus `rowOverhead` each): past it, the oldest messages are
///   dropped and counted (`dropped`); an append never waits for a sink.
/// - **A disk that refuses** (full, read-only): the append's messages are dropped, counted, and
///   `failure` says why until an append succeeds again; the caller never sees an error.
/// - **Counts** (a stream's retained counters) are coalesced: a stream keeps only its latest.
/// - One reader (its sink's worker) reads in order with `next(after:limit:)`; `wake` tells it that
///   something was appended.
public final class Outbox: Sendable {
    /// What a message carries.
    public enum Kind: Int, Sendable, Equatable {
        /// One analytics event (its id is `key`).
        case event = 0
        /// A stream's counters now (retained on MQTT); a newer one replaces it.
        case counts = 1
    }

    public struct Message: Sendable, Equatable {
        public var seq: Int64
        public var stream: String
        public var kind: Kind
        public var key: String
        public var payload: Data
        /// When it entered (seconds since 1970).
        public var created: Double
    }

    /// Where it lives.
    public let path: String
    /// Bytes held at most.
    public let maxBytes: Int
    /// Bytes counted per message beside its payload (its row, its keys).
    public static let rowOverhead = 96

    private struct State {
        var depth = 0
        var bytes = 0
        var dropped = 0
        var failure: String?
    }

    private let db: DatabasePool
    private let state = Mutex(State())
    private let signal: AsyncStream<Void>.Continuation
    /// Yields after each append (at most one waiting): its reader's cue to read again.
    public let wake: AsyncStream<Void>

    /// Opens (or makes) the outbox at `path`. A file that is not a database (corrupt, or something
    /// else) is moved aside to `<path>.corrupt-<time>` and a new one begun (`recovered` says so).
    public init(path: String, maxBytes: Int) throws(SinkError) {
        self.path = path
        self.maxBytes = max(1 << 16, maxBytes)
        (wake, signal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        var recovered: String?
        do {
            db = try Self.open(path)
        } catch let first {
            guard Self.isCorrupt(first) else { throw SinkError("outbox \(path): \(Self.describe(first))") }
            let aside = path + ".corrupt-\(Int(Date().timeIntervalSince1970))"
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            do {
                try FileManager.default.moveItem(atPath: path, toPath: aside)
                db = try Self.open(path)
            } catch {
                throw SinkError("outbox \(path): \(Self.describe(first)); it could not be set aside: \(error)")
            }
            recovered = aside
        }
        self.recovered = recovered
        do {
            let (depth, bytes) = try db.read { db in
                let row = try Row.fetchOne(
                    db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS b FROM outbox")
                return (row?["n"] as Int? ?? 0, row?["b"] as Int? ?? 0)
            }
            state.withLock {
                $0.depth = depth
                $0.bytes = bytes + depth * Self.rowOverhead
            }
        } catch { throw SinkError("outbox \(path): \(Self.describe(error))") }
        if depth > 0 { signal.yield() }
    }

    /// Where a corrupt file found at start was moved (nil: none was).
    public let recovered: String?

    deinit { signal.finish() }

    private static func open(_ path: String) throws -> DatabasePool {
        var config = Configuration()
        config.label = "outbox"
        config.maximumReaderCount = 2
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: config)
        try pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        stream TEXT NOT NULL,
                        kind INTEGER NOT NULL,
                        key TEXT NOT NULL,
                        payload BLOB NOT NULL,
                        created REAL NOT NULL)
                    """)
            // A quick look at the file's pages: a torn or foreign file fails here, not mid-run.
            let check = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "?"
            guard check == "ok" else { throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: check) }
        }
        return pool
    }

    private static func isCorrupt(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        return error.message ?? "\(error.resultCode)"
    }

    /// Messages waiting.
    public var depth: Int { state.withLock { $0.depth } }
    /// Bytes held (payloads and `rowOverhead` each).
    public var bytes: Int { state.withLock { $0.bytes } }
    /// Messages dropped since it was opened: the oldest, past `maxBytes`, or refused by the disk.
    public var dropped: Int { state.withLock { $0.dropped } }
    /// Why the disk refuses appends, while it does.
    public var failure: String? { state.withLock { $0.failure } }

    /// Adds `events` (key: the event id, payload) and, when given, `counts` (replacing the stream's
    /// waiting counts) in one transaction, then drops the oldest past the bound. Never throws and
    /// never waits for a sink: what the disk refuses is dropped and counted. Blocking (a disk
    /// write): call it from a thread of its own, never from the cooperative pool. `created` (seconds
    /// since 1970; nil: now) is the time their age counts from: the events' frame's reading.
    public func append(
        stream: String, events: [(key: String, payload: Data)], counts: Data? = nil, created: Double? = nil
    ) {
        guard !events.isEmpty || counts != nil else { return }
        let now = created ?? Date().timeIntervalSince1970
        let overhead = Self.rowOverhead
        let limit = maxBytes
        do {
            let (added, removed) = try db.write { db -> (Int, (n: Int, bytes: Int, dropped: Int)) in
                var added = 0
                var removedCounts = (n: 0, bytes: 0)
                for e in events {
                    try db.execute(
                        sql: "INSERT INTO outbox (stream, kind, key, payload, created) VALUES (?, 0, ?, ?, ?)",
                        arguments: [stream, e.key, e.payload, now])
                    added += e.payload.count + overhead
                }
                if let counts {
                    let old = try Row.fetchOne(
                        db,
                        sql: "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS b FROM outbox "
                            + "WHERE kind = 1 AND stream = ?", arguments: [stream])
                    removedCounts = (n: old?["n"] as Int? ?? 0, bytes: old?["b"] as Int? ?? 0)
                    try db.execute(sql: "DELETE FROM outbox WHERE kind = 1 AND stream = ?", arguments: [stream])
                    try db.execute(
                        sql: "INSERT INTO outbox (stream, kind, key, payload, created) VALUES (?, 1, 'counts', ?, ?)",
                        arguments: [stream, counts, now])
                    added += counts.count + overhead
                }
                // Past the bound: the oldest go, in one statement.
                let held = state.withLock { $0.bytes } + added - removedCounts.bytes - removedCounts.n * overhead
                var dropped = (n: 0, bytes: 0)
                if held > limit {
                    var excess = held - limit
                    let rows = try Row.fetchCursor(db, sql: "SELECT seq, LENGTH(payload) AS b FROM outbox ORDER BY seq")
                    var last: Int64 = -1
                    while excess > 0, let row = try rows.next() {
                        let size = (row["b"] as Int) + overhead
                        excess -= size
                        dropped.bytes += size
                        dropped.n += 1
                        last = row["seq"]
                    }
                    try db.execute(sql: "DELETE FROM outbox WHERE seq <= ?", arguments: [last])
                }
                let replaced = removedCounts.bytes + removedCounts.n * overhead
                return (added, (n: dropped.n + removedCounts.n, bytes: dropped.bytes + replaced, dropped: dropped.n))
            }
            state.withLock { s in
                s.depth += events.count + (counts == nil ? 0 : 1) - removed.n
                s.bytes += added - removed.bytes
                s.dropped += removed.dropped
                s.failure = nil
            }
            signal.yield()
        } catch {
            state.withLock { s in
                s.dropped += events.count
                s.failure = Self.describe(error)
            }
        }
    }

    /// Up to `limit` messages after `seq`, oldest first.
    public func next(after seq: Int64, limit: Int) async throws -> [Message] {
        try await db.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT seq, stream, kind, key, payload, created FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [seq, limit]
            ).map { row in
                Message(
                    seq: row["seq"], stream: row["stream"], kind: Kind(rawValue: row["kind"]) ?? .event,
                    key: row["key"], payload: row["payload"], created: row["created"])
            }
        }
    }

    /// Removes the messages `seqs` (acknowledged by the sink's peer). Unknown ones (dropped since,
    /// or replaced counts) are ignored.
    public func remove(_ seqs: [Int64]) async throws {
        guard !seqs.isEmpty else { return }
        let overhead = Self.rowOverhead
        let (n, bytes) = try await db.write { db -> (Int, Int) in
            var n = 0
            var bytes = 0
            for seq in seqs {
                guard
                    let size = try Int.fetchOne(
                        db, sql: "SELECT LENGTH(payload) FROM outbox WHERE seq = ?", arguments: [seq])
                else { continue }
                try db.execute(sql: "DELETE FROM outbox WHERE seq = ?", arguments: [seq])
                n += 1
                bytes += size + overhead
            }
            return (n, bytes)
        }
        state.withLock { s in
            s.depth -= n
            s.bytes -= bytes
        }
    }

    /// When the oldest waiting message entered (nil: none waits).
    public func oldest() async throws -> Double? {
        try await db.read { db in try Double.fetchOne(db, sql: "SELECT created FROM outbox ORDER BY seq LIMIT 1") }
    }
}
