import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One node's control plane, as the fleet uses it: what it runs and can still take (`report`), and
/// starting and stopping its streams. Every call is bounded by `timeout` and reads at most
/// `maxBody` bytes of an answer; nothing a node answers can stall or swell the fleet.
struct NodeClient: Sendable {
    let node: FleetConfig.Node
    let token: String?
    let client: HTTPClient
    var timeout: TimeAmount = .seconds(2)
    static let maxBody = 4 << 20
    static let startTimeout: TimeAmount = .seconds(60)

    /// What starting a camera came to.
    enum Started: Sendable, Equatable {
        case started
        /// The node runs a stream by that id already.
        case exists
        /// The node refused the spec (a 4xx other than 409): its message.
        case refused(String)
        /// The node could not be reached or failed: try again later.
        case failed(String)
    }

    /// Its streams, its models' headroom and its process's CPU and memory.
    func report() async throws -> NodeReport {
        async let streamsBody = get("/api/v1/streams")
        async let batchingBody = get("/api/v1/batching")
        async let systemBody = get("/api/v1/system")
        async let modelsBody = get("/api/v1/models")
        let (streamsData, batchingData, systemData, modelsData): (Data, Data, Data, Data)
        do {
            (streamsData, batchingData, systemData, modelsData) = try await (
                streamsBody, batchingBody, systemBody, modelsBody
            )
        } catch let error as FleetError {
            throw error
        } catch {
            throw FleetError(.unavailable, "\(error)")
        }
        guard let streams = (try? JSONSerialization.jsonObject(with: streamsData)) as? [[String: Any]] else {
            throw FleetError(.unavailable, "its /api/v1/streams is not a JSON list")
        }
        var models: [String: NodeReport.ModelLoad] = [:]
        for entry in (try? JSONSerialization.jsonObject(with: batchingData)) as? [[String: Any]] ?? [] {
            guard let model = entry["model"] as? String,
                let capacity = (entry["batching"] as? [String: Any])?["capacity"] as? [String: Any]
            else { continue }
            models[model] = .init(
                capacityFPS: capacity["capacity_fps"] as? Double, servedFPS: capacity["served_fps"] as? Double ?? 0,
                headroomFPS: capacity["headroom_fps"] as? Double)
        }
        // The version each serves, and those its repository holds.
        for entry in (try? JSONSerialization.jsonObject(with: modelsData)) as? [[String: Any]] ?? [] {
            guard let model = entry["name"] as? String, let version = entry["version"] as? Int else { continue }
            var load = models[model] ?? .init(capacityFPS: nil, servedFPS: 0, headroomFPS: nil)
            load.version = version
            load.versions = (entry["versions"] as? [Int] ?? []).prefix(1000).map { $0 }
            models[model] = load
        }
        let sample =
            ((try? JSONSerialization.jsonObject(with: systemData)) as? [String: Any])?["sample"] as? [String: Any]
        return NodeReport(
            streams: streams.compactMap { s in
                guard let id = s["id"] as? String else { return nil }
                return .init(
                    id: id, state: s["state"] as? String ?? "?", fps: s["fps"] as? Double ?? 0,
                    model: s["model"] as? String ?? "")
            },
            models: models, cpu: (sample?["process_cpu_pct"] as? Double).map { $0 / 100 },
            memoryBytes: sample?["rss_bytes"] as? Int)
    }

    /// `report()` as a value.
    func reportResult() async -> Result<NodeReport, FleetError> {
        do {
            return .success(try await report())
        } catch let error as FleetError {
            return .failure(error)
        } catch {
            return .failure(FleetError(.unavailable, "\(error)"))
        }
    }

    /// The name the node gives itself (`GET /api/v1/system`'s `node`), or why not (a value, as
    /// `reportResult`: no typed throws across an async call in the release build).
    func identity() async -> Result<String, FleetError> {
        let data: Data
        do {
            data = try await get("/api/v1/system")
        } catch {
            return .failure(FleetError(.unavailable, "\(error)"))
        }
        guard let name = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["node"] as? String,
            (1...64).contains(name.utf8.count)
        else { return .failure(FleetError(.unavailable, "its /api/v1/system gives no node name")) }
        return .success(name)
    }

    /// Starts a stream from `spec` (`POST /api/v1/streams`); allowed `startTimeout`, since a node
    /// loads and compiles a model for its first stream on it.
    func start(_ spec: Data) async -> Started {
        do {
            let (status, body) = try await send(.POST, "/api/v1/streams", body: spec, timeout: Self.startTimeout)
            switch status {
            case 200..<300: return .started
            case 409: return .exists
            case 400..<500 where status != 401 && status != 403 && status != 429:
                return .refused(Self.message(body) ?? "HTTP \(status)")
            default: return .failed(Self.message(body) ?? "HTTP \(status)")
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// Removes stream `id` (`DELETE /api/v1/streams/{id}`); nil when done (or it was not there).
    func stop(_ id: String) async -> String? {
        do {
            let (status, body) = try await send(.DELETE, "/api/v1/streams/\(id)", body: nil)
            return (200..<300).contains(status) || status == 404 ? nil : Self.message(body) ?? "HTTP \(status)"
        } catch {
            return "\(error)"
        }
    }

    private func get(_ path: String) async throws -> Data {
        let (status, body) = try await send(.GET, path, body: nil)
        guard (200..<300).contains(status) else { throw FleetError(.unavailable, "\(path): HTTP \(status)") }
        return body
    }

    func send(_ method: HTTPMethod, _ path: String, body: Data?, timeout: TimeAmount? = nil) async throws
        -> (Int, Data)
    {
        try await send(
            method, path, body: body.map { .bytes(ByteBuffer(bytes: $0)) }, contentType: "application/json",
            timeout: timeout)
    }

    func send(
        _ method: HTTPMethod, _ path: String, body: HTTPClientRequest.Body?, contentType: String,
        timeout: TimeAmount? = nil
    ) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: node.url + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = body
        }
        let limit = timeout ?? self.timeout
        let deadline = NIODeadline.now() + limit
        let response = try await client.execute(request, deadline: deadline)
        // The body within the same time (a node that trickles its answer holds no round).
        let buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await response.body.collect(upTo: Self.maxBody) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(0, limit.nanoseconds)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else {
                throw FleetError(.unavailable, "\(path): no whole answer within \(limit.nanoseconds / 1_000_000_000) s")
            }
            return body
        }
        return (Int(response.status.code), Data(buffer.readableBytesView))
    }

    /// A node's one-line error (`{"error": "..."}`).
    static func message(_ body: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["error"] as? String
    }
}
