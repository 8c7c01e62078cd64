import Foundation
import GRDB

/// The desired state, durable: the cameras and where each is asked to run and assigned. SQLite
/// through GRDB, WAL, `synchronous = FULL` (a change answered is on disk). Bounded: `maxCameras`.
/// A file that is not a database stops the start (one line): the desired state is never silently
/// begun again.
public final class FleetStore: Sendable {
    public let path: String
    public static let maxCameras = 4096
    private let db: DatabaseQueue

    public init(path: String) throws(FleetError) {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        do {
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            var config = Configuration()
            config.label = "fleet-state"
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            db = try DatabaseQueue(path: path, configuration: config)
            try db.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS cameras (
                            id TEXT PRIMARY KEY,
                            body BLOB NOT NULL,
                            updated REAL NOT NULL)
                        """)
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS rollouts (
                            id TEXT PRIMARY KEY,
                            body BLOB NOT NULL,
                            created REAL NOT NULL)
                        """)
                let check = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "?"
                guard check == "ok" else { throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: check) }
            }
        } catch {
            throw FleetError(.state, "\(path): the fleet's state cannot be opened: \(Self.describe(error))")
        }
    }

    /// Every camera, by id.
    public func cameras() throws(FleetError) -> [Camera] {
        do {
            let rows = try db.read { db in try Data.fetchAll(db, sql: "SELECT body FROM cameras ORDER BY id") }
            let decoder = JSONDecoder()
            return rows.compactMap { try? decoder.decode(Camera.self, from: $0) }
        } catch {
            throw FleetError(.state, "reading the fleet's state: \(Self.describe(error))")
        }
    }

    /// Adds `camera`; refuses an id already there (`exists`) or one past `maxCameras` (`full`).
    public func add(_ camera: Camera) throws(FleetError) {
        try write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM cameras WHERE id = ?", arguments: [camera.id]) == true {
                throw FleetError(.exists, "camera '\(camera.id)' exists")
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cameras") ?? 0
            guard count < Self.maxCameras else {
                throw FleetError(.full, "the fleet holds \(Self.maxCameras) cameras at most")
            }
            try Self.put(camera, in: db)
        }
    }

    /// Writes `camera` over the one with its id.
    public func update(_ camera: Camera) throws(FleetError) {
        try write { db in try Self.put(camera, in: db) }
    }

    /// Changes camera `id` in one transaction (what was written meanwhile is kept); returns it as
    /// changed, nil when there is none.
    @discardableResult
    public func modify(_ id: String, _ change: @Sendable (inout Camera) throws(FleetError) -> Void) throws(FleetError)
        -> Camera?
    {
        var result: Camera?
        try write { db in
            guard let body = try Data.fetchOne(db, sql: "SELECT body FROM cameras WHERE id = ?", arguments: [id]),
                var camera = try? JSONDecoder().decode(Camera.self, from: body)
            else { return }
            try change(&camera)
            try Self.put(camera, in: db)
            result = camera
        }
        return result
    }

    /// Removes camera `id`; false when there was none.
    @discardableResult
    public func remove(_ id: String) throws(FleetError) -> Bool {
        var removed = false
        try write { db in
            try db.execute(sql: "DELETE FROM cameras WHERE id = ?", arguments: [id])
            removed = db.changesCount > 0
        }
        return removed
    }

    /// Rollouts kept at most (the oldest finished ones go).
    public static let maxRollouts = 100

    /// Every rollout, oldest first.
    public func rollouts() throws(FleetError) -> [Rollout] {
        do {
            let rows = try db.read { db in try Data.fetchAll(db, sql: "SELECT body FROM rollouts ORDER BY created, id")
            }
            let decoder = JSONDecoder()
            return rows.compactMap { try? decoder.decode(Rollout.self, from: $0) }
        } catch {
            throw FleetError(.state, "reading the fleet's rollouts: \(Self.describe(error))")
        }
    }

    /// Writes `rollout` (new or changed); past `maxRollouts`, the oldest finished ones go.
    public func save(_ rollout: Rollout) throws(FleetError) {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO rollouts (id, body, created) VALUES (?, ?, ?)",
                arguments: [rollout.id, try JSONEncoder().encode(rollout), rollout.created])
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollouts") ?? 0
            guard count > Self.maxRollouts else { return }
            let decoder = JSONDecoder()
            let old = try Row.fetchAll(db, sql: "SELECT id, body FROM rollouts ORDER BY created, id")
            var excess = count - Self.maxRollouts
            for row in old where excess > 0 {
                let body: Data = row["body"]
                guard let r = try? decoder.decode(Rollout.self, from: body), r.phase.finished else { continue }
                try db.execute(sql: "DELETE FROM rollouts WHERE id = ?", arguments: [r.id])
                excess -= 1
            }
        }
    }

    private static func put(_ camera: Camera, in db: Database) throws {
        let body = try JSONEncoder().encode(camera)
        try db.execute(
            sql: "INSERT OR REPLACE INTO cameras (id, body, updated) VALUES (?, ?, ?)",
            arguments: [camera.id, body, Date().timeIntervalSince1970])
    }

    private func write(_ body: (Database) throws -> Void) throws(FleetError) {
        do {
            try db.write { db in try body(db) }
        } catch let error as FleetError {
            throw error
        } catch {
            throw FleetError(.state, "writing the fleet's state: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        return error.message ?? "\(error.resultCode)"
    }
}

/// What went wrong in the fleet, typed for the HTTP mapping.
public struct FleetError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        case state, exists, full, notFound, invalid, unavailable
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
