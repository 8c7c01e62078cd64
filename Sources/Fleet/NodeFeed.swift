import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A node's live feed (`GET /api/v1/events`, Server-Sent Events), followed so that the fleet goes
/// round as soon as something changed there (a stream's state, a model swap) rather than at its
/// next poll: a camera whose source ended, or a version swapped by hand, is seen at once. The polls
/// still say what the node runs; the feed only says when to look. Untrusted like every answer:
/// only the first `lineHead` bytes of a line are kept, a feed whose head does not come or that is
/// silent for `silence` seconds (a node sends its figures every second) is closed, and one is
/// renewed after `lifetime`; it is opened again later.
struct NodeFeed: Sendable {
    let client: NodeClient
    /// Seconds without a byte before the feed counts as gone.
    static let silence = 10.0
    /// Bytes of a line looked at (`event: stream`); the rest of a line is skipped unread, so a
    /// long one (a feed's figures of many streams) costs nothing and holds no memory.
    static let lineHead = 16
    /// Seconds one connection lasts at most (then it is opened again).
    static let lifetime = 3600.0

    /// Whether a feed event says something changed that the fleet acts on.
    static func isChange(_ event: String) -> Bool { event == "stream" || event == "swap" }

    /// One connection, until it ends: `connected` once it is open, `changed` at each change.
    /// Returns why it ended.
    func follow(connected: @Sendable () -> Void, changed: @escaping @Sendable () -> Void) async -> String {
        var request = HTTPClientRequest(url: client.node.url + "/api/v1/events")
        if let token = client.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            // The time-out covers the answer's head; the body is watched below.
            response = try await client.client.execute(request, timeout: .seconds(Int64(Self.silence)))
        } catch {
            return "\(error)"
        }
        guard response.status == .ok else { return "HTTP \(response.status.code)" }
        connected()
        let last = Stamp()
        return await withTaskGroup(of: String.self) { group in
            group.addTask {
                var head: [UInt8] = []
                head.reserveCapacity(Self.lineHead)
                do {
                    for try await chunk in response.body {
                        last.time.withLock { $0 = Clock.now }
                        for byte in chunk.readableBytesView {
                            guard byte == 0x0A else {
                                if head.count < Self.lineHead { head.append(byte) }
                                continue
                            }
                            if head.starts(with: Array("event: ".utf8)),
                                Self.isChange(String(decoding: head.dropFirst(7), as: UTF8.self))
                            {
                                changed()
                            }
                            head.removeAll(keepingCapacity: true)
                        }
                    }
                    return "the node closed it"
                } catch {
                    return "\(error)"
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let quiet = Clock.now - last.time.withLock { $0 }
                    if quiet > Self.silence { return "silent for \(Int(Self.silence)) s" }
                }
                return "cancelled"
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(Self.lifetime))
                return "renewed after \(Int(Self.lifetime)) s"
            }
            let why = await group.next() ?? "cancelled"
            group.cancelAll()
            return why
        }
    }
}

/// When the feed last gave a byte (shared by the reading task and the one watching for silence).
private final class Stamp: Sendable {
    let time = Mutex(Clock.now)
}

// Every node's feed, followed for as long as the fleet runs.
extension FleetService {
    /// Follows the feed of every node the fleet knows (those discovered later too), each on a task
    /// of its own; one that ends is opened again `pollInterval` seconds later. Until cancelled.
    func followFeeds() async {
        await withTaskGroup(of: Void.self) { group in
            var following: Set<String> = []
            while !Task.isCancelled {
                for name in clients.withLock({ $0.keys.sorted() }) where !following.contains(name) {
                    following.insert(name)
                    group.addTask { await self.followFeed(of: name) }
                }
                try? await Task.sleep(for: .seconds(config.pollInterval))
            }
            group.cancelAll()
        }
    }

    private func followFeed(of name: String) async {
        while !Task.isCancelled {
            // Its client as it is now (a discovered node may have moved).
            guard let client = clients.withLock({ $0[name] }) else { return }
            let why = await NodeFeed(client: client).follow(
                connected: { self.feeds.withLock { $0[name] = true } },
                changed: { self.kick() })
            let was = feeds.withLock { $0.updateValue(false, forKey: name) } ?? false
            if was { note(.info, "node \(name): its event feed ended (\(why)); opened again when it answers") }
            try? await Task.sleep(for: .seconds(config.pollInterval))
        }
    }
}
