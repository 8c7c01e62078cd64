import Core
import Foundation
import NIOCore
import NIOHTTP1

// What a rollout asks of a node: its model's version, shadow runs, switching and switching back.
extension NodeClient {
    /// Seconds a switch may take: a version is loaded, compiled and put on probation.
    static let switchTimeout: TimeAmount = .seconds(120)

    /// The version of `model` it serves (nil when it does not serve it).
    func servedVersion(_ model: String) async throws -> Int? {
        let (status, body) = try await call(.GET, "/api/v1/models", nil, timeout)
        guard status == 200, let list = (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] else {
            throw FleetError(.unavailable, "its /api/v1/models: HTTP \(status)")
        }
        return list.first { $0["name"] as? String == model }?["version"] as? Int
    }

    /// Starts a shadow run of `version`; nil when begun, else why not.
    func startShadow(_ model: String, version: Int, gate: Rollout.Gate) async -> String? {
        let body = try? JSONSerialization.data(
            withJSONObject: ["version": version, "frames": gate.frames, "every_ms": gate.everyMs])
        do {
            let (status, reply) = try await call(.POST, "/api/v1/models/\(model)/shadow", body, timeout)
            return status == 202 ? nil : Self.message(reply) ?? "HTTP \(status)"
        } catch {
            return (error as? FleetError)?.message ?? "\(error)"
        }
    }

    /// The shadow run's state, agreement, frames and reason.
    func shadowFigures(_ model: String) async throws -> (
        state: String, agreement: Double?, frames: Int, reason: String?
    ) {
        let (status, body) = try await call(.GET, "/api/v1/models/\(model)/shadow", nil, timeout)
        guard status == 200, let o = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw FleetError(.unavailable, "its shadow run: \(Self.message(body) ?? "HTTP \(status)")")
        }
        return (
            o["state"] as? String ?? "?", o["agreement"] as? Double, o["frames"] as? Int ?? 0, o["reason"] as? String
        )
    }

    /// Serves `version` (nil when it does), else why not.
    func activate(_ model: String, version: Int) async -> String? {
        let body = try? JSONSerialization.data(withJSONObject: ["version": version])
        do {
            let (status, reply) = try await call(.POST, "/api/v1/models/\(model)/activate", body, Self.switchTimeout)
            // 202: staged on an idle node, serving from its next batch.
            return status == 200 || status == 202 ? nil : Self.message(reply) ?? "HTTP \(status)"
        } catch {
            return (error as? FleetError)?.message ?? "\(error)"
        }
    }

    /// Serves the version before (nil when it does), else why not.
    func rollback(_ model: String) async -> String? {
        do {
            let (status, reply) = try await call(.POST, "/api/v1/models/\(model)/rollback", nil, Self.switchTimeout)
            return status == 200 ? nil : Self.message(reply) ?? "HTTP \(status)"
        } catch {
            return (error as? FleetError)?.message ?? "\(error)"
        }
    }

    /// Its streams' frames shed in all and worst lag p99 over the last 10 s, now.
    func figures() async throws -> Rollout.Figures {
        let (status, body) = try await call(.GET, "/api/v1/streams", nil, timeout)
        guard status == 200, let streams = (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] else {
            throw FleetError(.unavailable, "its /api/v1/streams: HTTP \(status)")
        }
        let shed = streams.reduce(0) { $0 + ($1["dropped"] as? Int ?? 0) }
        // The last 10 s: what changed lately, not a minute's history.
        let lag =
            streams.compactMap { s in
                ((s["lag_10s_ms"] ?? s["lag_ms"]) as? [String: Any])?["p99"] as? Double
            }.max() ?? 0
        return Rollout.Figures(shed: shed, lagP99: (lag * 10).rounded() / 10, time: Clock.now)
    }

    private func call(_ method: HTTPMethod, _ path: String, _ body: Data?, _ limit: TimeAmount) async throws
        -> (Int, Data)
    {
        do {
            return try await send(method, path, body: body, timeout: limit)
        } catch let error as FleetError {
            throw error
        } catch {
            throw FleetError(.unavailable, "\(path): \(error)")
        }
    }
}
