import EdgeNode
import Foundation
import Server
import TestSupport
import Testing
import Yams

/// The Kubernetes manifests (deploy/kubernetes): each overlay rendered with `kubectl kustomize`,
/// validated strictly against Kubernetes 1.30's schemas with `kubernetes-validate`, and read for
/// what the server needs: the probes answer on a live server, the port is the config's, the config
/// passes the config check, and the pods are locked down.
@Suite("Kubernetes manifests", .serialized)
struct DeploymentTests {
    static let kubernetes = TestAssets.root.appendingPathComponent("deploy/kubernetes")
    static let overlays = ["edge", "nvidia-gpu", "single-node"]

    /// `kubectl kustomize DIR`: the rendered YAML.
    static func render(_ dir: URL) throws -> String {
        let kubectl = try #require(
            ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "kubectl is needed to render the manifests")
        let result = try runProcess(URL(fileURLWithPath: kubectl), ["kustomize", dir.path], timeout: 60)
        #expect(result.status == 0, "kubectl kustomize \(dir.path): \(result.stderr)")
        return result.stdout
    }

    /// `kubernetes-validate --strict -k 1.30.0` on `yaml`: its status and output.
    static func validate(_ yaml: String) throws -> CommandResult {
        let dir = TestAssets.temporaryDirectory("k8s")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("rendered.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let tool = TestAssets.root.appendingPathComponent(".deps/venv/bin/kubernetes-validate")
        return try runProcess(tool, ["--strict", "-k", "1.30.0", file.path], timeout: 120)
    }

    /// The rendered documents, as mappings.
    static func documents(_ yaml: String) throws -> [[String: Any]] {
        try Yams.load_all(yaml: yaml).compactMap { $0 as? [String: Any] }
    }

    static func find(_ docs: [[String: Any]], kind: String) -> [String: Any]? {
        docs.first { $0["kind"] as? String == kind }
    }

    /// A kustomization in a temporary folder made of `resources` and `components` (folders under
    /// deploy/kubernetes; kustomize takes them relative only).
    static func composed(resources: [String], components: [String]) throws -> URL {
        let dir = TestAssets.temporaryDirectory("kustomize")
        let up = String(repeating: "../", count: dir.standardizedFileURL.pathComponents.count - 1)
        let kubernetes = up + Self.kubernetes.standardizedFileURL.path.dropFirst()
        let text =
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            + resources.map { "  - \(kubernetes)/\($0)\n" }.joined() + "components:\n"
            + components.map { "  - \(kubernetes)/\($0)\n" }.joined()
        try text.write(to: dir.appendingPathComponent("kustomization.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    @Test("Every overlay, and edge with the optional components, validates strictly against Kubernetes 1.30")
    func validates() throws {
        var renders = try Self.overlays.map {
            ($0, try Self.render(Self.kubernetes.appendingPathComponent("overlays/\($0)")))
        }
        let extra = try Self.composed(
            resources: ["overlays/edge"], components: ["components/service-monitor", "components/models-hostpath"])
        defer { try? FileManager.default.removeItem(at: extra) }
        let withComponents = try Self.render(extra)
        renders.append(("edge + service-monitor + models-hostpath", withComponents))
        for (name, yaml) in renders {
            let result = try Self.validate(yaml)
            let output = result.stdout + result.stderr
            #expect(result.status == 0 && !output.contains("ERROR"), "\(name): \(output)")
            let passed = output.split(separator: "\n").filter { $0.contains(" passed for resource ") }.count
            #expect(passed == (try Self.documents(yaml)).filter { $0["kind"] as? String != "ServiceMonitor" }.count)
        }
        // The components did their part: a ServiceMonitor on /metrics; the models on the node's disk.
        let docs = try Self.documents(withComponents)
        let monitor = try #require(Self.find(docs, kind: "ServiceMonitor"))
        let endpoints = try #require((monitor["spec"] as? [String: Any])?["endpoints"] as? [[String: Any]])
        #expect(endpoints.first?["path"] as? String == "/metrics" && endpoints.first?["port"] as? String == "http")
        #expect(Self.find(docs, kind: "PersistentVolumeClaim") == nil)
        #expect(withComponents.contains("path: /var/lib/batchline/models"))
    }

    @Test("The validator can fail: a field Kubernetes does not know is refused")
    func validatorRefuses() throws {
        let yaml = try Self.render(Self.kubernetes.appendingPathComponent("overlays/single-node"))
        let broken = yaml.replacingOccurrences(
            of: "      terminationGracePeriodSeconds: 15", with: "      gracePeriod: 15")
        #expect(broken != yaml)
        let result = try Self.validate(broken)
        #expect(result.status != 0, "\(result.stdout)")
    }

    /// What one overlay's pod is made of.
    struct Pod {
        var workload: [String: Any]
        var spec: [String: Any]
        var container: [String: Any]
        var config: String
        var docs: [[String: Any]]
    }

    static func pod(_ overlay: String) throws -> Pod {
        let docs = try documents(try render(kubernetes.appendingPathComponent("overlays/\(overlay)")))
        let workload = try #require(find(docs, kind: overlay == "single-node" ? "Deployment" : "DaemonSet"))
        let template = try #require((workload["spec"] as? [String: Any])?["template"] as? [String: Any])
        let spec = try #require(template["spec"] as? [String: Any])
        let container = try #require((spec["containers"] as? [[String: Any]])?.first)
        let configMap = try #require(find(docs, kind: "ConfigMap"))
        let config = try #require((configMap["data"] as? [String: Any])?["serve.yaml"] as? String)
        return Pod(workload: workload, spec: spec, container: container, config: config, docs: docs)
    }

    @Test(
        "Probes on /v2/health/ready (startup, readiness) and /live, the config's port, a locked-down pod",
        arguments: overlays)
    func podShape(_ overlay: String) throws {
        let pod = try Self.pod(overlay)
        let c = pod.container
        func probe(_ name: String) -> (path: String?, port: String?) {
            let get = (c[name] as? [String: Any])?["httpGet"] as? [String: Any]
            return (get?["path"] as? String, get?["port"] as? String)
        }
        #expect(probe("startupProbe") == ("/v2/health/ready", "http"))
        #expect(probe("readinessProbe") == ("/v2/health/ready", "http"))
        #expect(probe("livenessProbe") == ("/v2/health/live", "http"))
        // The startup probe covers model loading: liveness does not count for its first minutes.
        let startup = try #require(c["startupProbe"] as? [String: Any])
        let allowed = (startup["periodSeconds"] as? Int ?? 10) * (startup["failureThreshold"] as? Int ?? 3)
        #expect(allowed >= 120)

        // The port the probes and the Service name is the one the config listens on, on all addresses.
        let ports = try #require(c["ports"] as? [[String: Any]])
        let http = try #require(ports.first { $0["name"] as? String == "http" })
        let config = try #require(try Yams.load(yaml: pod.config) as? [String: Any])
        let server = try #require(config["server"] as? [String: Any])
        #expect(http["containerPort"] as? Int == server["port"] as? Int && server["host"] as? String == "0.0.0.0")
        let service = try #require(Self.find(pod.docs, kind: "Service"))
        let servicePorts = try #require((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]])
        #expect(servicePorts.first?["targetPort"] as? String == "http")

        // Locked down: non-root, read-only root, no privilege escalation, every capability dropped.
        let podSecurity = try #require(pod.spec["securityContext"] as? [String: Any])
        #expect(podSecurity["runAsNonRoot"] as? Bool == true && (podSecurity["runAsUser"] as? Int ?? 0) > 0)
        #expect((podSecurity["seccompProfile"] as? [String: Any])?["type"] as? String == "RuntimeDefault")
        let security = try #require(c["securityContext"] as? [String: Any])
        #expect(security["readOnlyRootFilesystem"] as? Bool == true)
        #expect(security["allowPrivilegeEscalation"] as? Bool == false)
        #expect((security["capabilities"] as? [String: Any])?["drop"] as? [String] == ["ALL"])
        #expect(pod.spec["automountServiceAccountToken"] as? Bool == false)
        let resources = try #require(c["resources"] as? [String: Any])
        for key in ["requests", "limits"] {
            let values = try #require(resources[key] as? [String: Any], "\(key)")
            #expect(values["cpu"] != nil && values["memory"] != nil, "\(key)")
        }
        // What it writes goes to volumes: the events folder and /tmp.
        let mounts = try #require(c["volumeMounts"] as? [[String: Any]]).compactMap { $0["mountPath"] as? String }
        #expect(
            mounts.contains("/opt/batchline/out") && mounts.contains("/tmp") && mounts.contains("/etc/batchline/token"))

        // The config rolls the pods: the pod names the ConfigMap by its content-hashed name.
        let configMap = try #require(Self.find(pod.docs, kind: "ConfigMap"))
        let configMapName = try #require((configMap["metadata"] as? [String: Any])?["name"] as? String)
        #expect(configMapName.hasPrefix("batchline-config-") && configMapName.count > "batchline-config-".count)
        let volumes = try #require(pod.spec["volumes"] as? [[String: Any]])
        #expect(volumes.contains { ($0["configMap"] as? [String: Any])?["name"] as? String == configMapName })
        #expect(volumes.contains { ($0["secret"] as? [String: Any])?["secretName"] as? String == "batchline-token" })
        #expect(Self.find(pod.docs, kind: "Secret") != nil)

        // One pod down at a time; traffic in on the HTTP port only; both select this pod.
        let labels = try #require(
            ((pod.workload["spec"] as? [String: Any])?["template"] as? [String: Any]).flatMap {
                ($0["metadata"] as? [String: Any])?["labels"] as? [String: String]
            })
        for kind in ["PodDisruptionBudget", "NetworkPolicy"] {
            let doc = try #require(Self.find(pod.docs, kind: kind), "\(kind)")
            let spec = try #require(doc["spec"] as? [String: Any])
            let selector = (spec["selector"] ?? spec["podSelector"]) as? [String: Any]
            let match = try #require(selector?["matchLabels"] as? [String: String], "\(kind)")
            #expect(match.allSatisfy { labels[$0.key] == $0.value }, "\(kind)")
        }

        if overlay == "single-node" {
            #expect((pod.workload["spec"] as? [String: Any])?["replicas"] as? Int == 1)
        } else {
            // Each pod serves its own node's part: the node's name from the downward API.
            let args = try #require(c["args"] as? [String])
            #expect(args.suffix(2) == ["--node", "$(NODE_NAME)"])
            let env = try #require(c["env"] as? [[String: Any]])
            let node = try #require(env.first { $0["name"] as? String == "NODE_NAME" })
            let field = ((node["valueFrom"] as? [String: Any])?["fieldRef"] as? [String: Any])?["fieldPath"]
            #expect(field as? String == "spec.nodeName")
            #expect((pod.spec["nodeSelector"] as? [String: String])?["batchline.io/edge"] == "true")
            #expect(mounts.contains("/var/lib/batchline/models"))
        }
        if overlay == "nvidia-gpu" {
            #expect(pod.spec["runtimeClassName"] as? String == "nvidia")
            #expect((pod.spec["nodeSelector"] as? [String: String])?["nvidia.com/gpu.present"] == "true")
            #expect(((resources["limits"] as? [String: Any])?["nvidia.com/gpu"] as? Int) == 1)
        }
    }

    @Test(
        "Each overlay's config passes the config check (the edge repository taken from this checkout)",
        arguments: overlays)
    func configChecks(_ overlay: String) throws {
        let pod = try Self.pod(overlay)
        let cwd = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(TestAssets.root.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        // Paths are the image's (relative ones from /opt/batchline, laid out as this checkout is).
        let yaml = pod.config.replacingOccurrences(
            of: "/var/lib/batchline/models", with: TestAssets.root.appendingPathComponent("models").path)
        let (config, problems) = ServiceConfig.check(yaml: yaml, file: "\(overlay)/serve.yaml")
        #expect(problems.isEmpty, "\(problems)")
        #expect(!config.allStreams.isEmpty)
        if overlay != "single-node" {
            #expect(config.nodes.count >= 2 && config.streams.isEmpty)
        }
    }

    @Test("The probes' paths answer on a live server: ready once the models are loaded, live, and /metrics")
    func probesAnswer() async throws {
        let pod = try Self.pod("single-node")
        let paths = ["startupProbe", "readinessProbe", "livenessProbe"].compactMap {
            ((pod.container[$0] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String
        }
        #expect(paths.count == 3)
        let serve = try ServeProcess(
            config: """
                models: { repository: models }
                streams:
                  - { id: cam, source: assets/vtest.avi, model: pedestrian-ssdlite, loop: true, realtime: true }
                """)
        defer { _ = serve.stop() }
        for path in Set(paths).sorted() {
            let reply = try await serve.poll(path, timeout: 60) { $0.status == 200 }
            #expect(reply.status == 200, "\(path)")
        }
        #expect(try await serve.request("GET", "/metrics").status == 200)
        #expect(try await serve.request("GET", "/v2/health/nonsense").status == 404)
    }

    @Test("A changed config rolls the pods: the workload names a new ConfigMap, nothing else changes")
    func configChangeRolls() throws {
        let copy = TestAssets.temporaryDirectory("k8s-copy").appendingPathComponent("kubernetes")
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        try FileManager.default.copyItem(at: Self.kubernetes, to: copy)
        let before = try Self.render(copy.appendingPathComponent("overlays/edge"))
        let file = copy.appendingPathComponent("overlays/edge/serve.yaml")
        let text = try String(contentsOf: file, encoding: .utf8)
        try text.replacingOccurrences(of: "timeout_s: 5", with: "timeout_s: 8").write(
            to: file, atomically: true, encoding: .utf8)
        let after = try Self.render(copy.appendingPathComponent("overlays/edge"))
        func configName(_ yaml: String) throws -> String? {
            let ds = try #require(Self.find(try Self.documents(yaml), kind: "DaemonSet"))
            let spec = ((ds["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
            return (spec?["volumes"] as? [[String: Any]])?.compactMap {
                ($0["configMap"] as? [String: Any])?["name"] as? String
            }.first
        }
        let old = try #require(try configName(before))
        let new = try #require(try configName(after))
        #expect(old != new)
        #expect(
            before.replacingOccurrences(of: old, with: "X").replacingOccurrences(of: "timeout_s: 5", with: "T")
                == after.replacingOccurrences(of: new, with: "X").replacingOccurrences(of: "timeout_s: 8", with: "T"))
    }
}
