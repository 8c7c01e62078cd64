import EdgeNode
import Fleet
import Foundation
import TestSupport
import Testing

/// The fleet's overlay (deploy/kubernetes/overlays/fleet): the edge nodes, their headless Service,
/// and the fleet's Deployment with its claim and tokens, rendered and validated like the rest.
@Suite("Kubernetes: the fleet overlay")
struct FleetDeploymentTests {
    static func named(_ docs: [[String: Any]], _ kind: String, _ name: String) -> [String: Any]? {
        docs.first { $0["kind"] as? String == kind && ($0["metadata"] as? [String: Any])?["name"] as? String == name }
    }

    @Test(
        "It validates strictly; the fleet is one replica, recreated, with its state on the claim; its config finds the nodes through the headless Service with the nodes' token; the nodes have no streams of their own"
    )
    func overlay() throws {
        let yaml = try DeploymentTests.render(DeploymentTests.kubernetes.appendingPathComponent("overlays/fleet"))
        let result = try DeploymentTests.validate(yaml)
        let output = result.stdout + result.stderr
        #expect(result.status == 0 && !output.contains("ERROR"), "\(output)")
        let docs = try DeploymentTests.documents(yaml)
        #expect(output.split(separator: "\n").filter { $0.contains(" passed for resource ") }.count == docs.count)

        let deployment = try #require(Self.named(docs, "Deployment", "batchline-fleet"))
        let spec = try #require(deployment["spec"] as? [String: Any])
        #expect(spec["replicas"] as? Int == 1 && (spec["strategy"] as? [String: Any])?["type"] as? String == "Recreate")
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        #expect((container["args"] as? [String])?.first == "fleet")
        let mounts = Dictionary(
            uniqueKeysWithValues: (container["volumeMounts"] as? [[String: Any]] ?? []).compactMap { m in
                (m["name"] as? String).map { ($0, m["mountPath"] as? String ?? "") }
            })
        let volumes = pod["volumes"] as? [[String: Any]] ?? []
        func volume(_ name: String) -> [String: Any]? { volumes.first { $0["name"] as? String == name } }
        let claim = (volume("state")?["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String
        #expect(
            claim == "batchline-fleet-state"
                && Self.named(docs, "PersistentVolumeClaim", "batchline-fleet-state") != nil)

        // Its config, as the pod sees it.
        let configName = try #require((volume("config")?["configMap"] as? [String: Any])?["name"] as? String)
        let configMap = try #require(Self.named(docs, "ConfigMap", configName))
        let text = try #require((configMap["data"] as? [String: Any])?["fleet.yaml"] as? String)
        let config = try FleetConfig.parse(yaml: text, file: "fleet.yaml")
        #expect(config.statePath.hasPrefix(try #require(mounts["state"]) + "/"))
        #expect(config.tokenFile?.hasPrefix(try #require(mounts["fleet-token"]) + "/") == true)
        let discover = try #require(config.discover)
        #expect(discover.tokenFile?.hasPrefix(try #require(mounts["node-token"]) + "/") == true)
        let nodeToken = (volume("node-token")?["secret"] as? [String: Any])?["secretName"] as? String
        #expect(nodeToken == "batchline-token")

        // The headless Service it looks up selects the node pods, on the nodes' port.
        let headless = try #require(Self.named(docs, "Service", "batchline-nodes"))
        let service = try #require(headless["spec"] as? [String: Any])
        #expect(service["clusterIP"] as? String == "None")
        #expect((service["selector"] as? [String: String])?["app.kubernetes.io/component"] == "server")
        #expect(discover.dns == "batchline-nodes.batchline.svc.cluster.local" && discover.port == 8080)

        // The nodes serve nothing of their own: the fleet gives them their cameras.
        let daemonSet = try #require(docs.first { $0["kind"] as? String == "DaemonSet" })
        let nodePod = try #require(
            ((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let nodeConfigName = try #require(
            ((nodePod["volumes"] as? [[String: Any]])?.first { $0["name"] as? String == "config" }?["configMap"]
                as? [String: Any])?["name"] as? String)
        let nodeText = try #require(
            (Self.named(docs, "ConfigMap", nodeConfigName)?["data"] as? [String: Any])?["serve.yaml"] as? String)
        // (Its repository is the pod's volume; here, the checkout's.)
        let local = nodeText.replacingOccurrences(
            of: "/var/lib/batchline/models", with: TestAssets.root.appendingPathComponent("models").path)
        let nodeConfig = try ServiceConfig.parse(yaml: local, file: "serve.yaml")
        #expect(nodeConfig.allStreams.isEmpty && nodeConfig.port == 8080)
    }
}
