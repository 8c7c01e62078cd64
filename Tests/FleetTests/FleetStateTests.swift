import EdgeNode
import Foundation
import TestSupport
import Testing

@testable import Fleet

@Suite("Fleet config and state")
struct FleetStateTests {
    @Test("fleet.yaml decodes into nodes and limits; bad entries are refused with the file and the key")
    func config() throws {
        let config = try FleetConfig.parse(
            yaml: """
                server: { host: 0.0.0.0, port: 8090, token_file: /tmp/fleet.token }
                state: /tmp/fleet/state.sqlite
                nodes:
                  - { name: edge-01, url: "http://10.0.0.1:8080/", token_file: /tmp/e1 }
                  - { name: edge-02, url: "https://edge-02:8443" }
                failover_s: 20
                """, file: "fleet.yaml")
        #expect(config.host == "0.0.0.0" && config.port == 8090 && config.tokenFile == "/tmp/fleet.token")
        #expect(config.nodes.map(\.name) == ["edge-01", "edge-02"] && config.nodes[0].url == "http://10.0.0.1:8080")
        #expect(config.failover == 20 && config.statePath == "/tmp/fleet/state.sqlite")
        let found = try FleetConfig.parse(
            yaml: "discover: { dns: batchline-nodes.batchline.svc, port: 8080, token_file: /t }", file: "f.yaml")
        #expect(
            found.nodes.isEmpty
                && found.discover == .init(dns: "batchline-nodes.batchline.svc", port: 8080, tokenFile: "/t"))
        for (yaml, expected) in [
            ("nodes: [ { name: a, url: \"ftp://x\" } ]", "fleet.yaml: nodes[0].url: must be http://HOST:PORT"),
            (
                "nodes: [ { name: a, url: \"http://x:1\" }, { name: a, url: \"http://y:1\" } ]",
                "fleet.yaml: nodes[1].name: duplicate name 'a'"
            ),
            ("nodes: [ { name: \"a b\", url: \"http://x:1\" } ]", "fleet.yaml: nodes[0].name: must be 1-64"),
            ("failover_s: 1", "fleet.yaml: failover_s: must be within 5...86400 seconds"),
            ("nodez: []", "fleet.yaml: nodez: unknown key"),
            ("failover_s: 30", "fleet.yaml: nodes: give nodes, discover, or both"),
            ("discover: { dns: \"a b\", port: 80 }", "fleet.yaml: discover.dns: must be a DNS name"),
            ("discover: { dns: nodes.svc }", "fleet.yaml: discover.port: missing"),
        ] {
            #expect(throws: ConfigError.self) { try FleetConfig.parse(yaml: yaml, file: "fleet.yaml") }
            do {
                _ = try FleetConfig.parse(yaml: yaml, file: "fleet.yaml")
            } catch {
                #expect(error.description.hasPrefix(expected), "\(error)")
            }
        }
    }

    @Test("The desired state survives reopening; ids are unique; a file that is not a database stops the start")
    func durable() throws {
        let dir = TestAssets.temporaryDirectory("fleet-state")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.sqlite").path
        do {
            let store = try FleetStore(path: path)
            try store.add(Camera(id: "a", spec: Data("{}".utf8), model: "m", need: 10, placement: nil, node: "n1"))
            try store.add(Camera(id: "b", spec: Data("{}".utf8), model: "m", need: 5, placement: "n2"))
            #expect(throws: FleetError.self) {
                try store.add(Camera(id: "a", spec: Data("{}".utf8), model: "m", need: 1, placement: nil))
            }
            let removed = try store.remove("b")
            let again = try store.remove("b")
            #expect(removed && !again)
        }
        let cameras = try FleetStore(path: path).cameras()
        #expect(cameras.map(\.id) == ["a"] && cameras.first?.node == "n1")
        let bad = dir.appendingPathComponent("bad.sqlite").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: bad))
        #expect(throws: FleetError.self) { try FleetStore(path: bad) }
    }
}
