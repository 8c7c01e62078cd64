"""The fleet overlay as podman 4.3's `kube play` can play it (scripts/test-deploy.sh, step 5).

  fleet_play.py nodes RENDERED MODELS PORT PORT
                                           the nodes' Secret and ConfigMap, and the DaemonSet as two
                                           Deployments (edge-a, edge-b), models from a hostPath
  fleet_play.py fleet RENDERED PORT NAME=URL...
                                           the fleet's Secret, claim and Deployment, its config
                                           listing the nodes by address instead of `discover:`
  fleet_play.py volumes < YAML             the volumes kube play made for the Deployments (to remove)
  fleet_play.py nodes-up FILE [print]      exit 0 when the fleet's node list has two nodes, both up
  fleet_play.py camera-running FILE [print] exit 0 when camera `cam` runs on edge-a or edge-b

podman 4.3 plays no DaemonSet and has no Services (so no headless-Service discovery, which
FleetNodesTests covers against DNS); a Secret's `data` is given (it reads no `stringData`); and it
publishes a container port without a hostPort on the host's same port, so two node pods would
collide on 8080: each gets a free loopback port (PORT) instead.
"""
import base64
import copy
import json
import secrets
import sys

import yaml


def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def token_secret(doc):
    doc.pop("stringData", None)
    doc["data"] = {"token": base64.b64encode(secrets.token_hex(32).encode()).decode()}
    return doc


def publish(container, port):
    """The container's port published on 127.0.0.1:PORT only."""
    for p in container.get("ports", []):
        p["hostIP"] = "127.0.0.1"
        p["hostPort"] = int(port)


def nodes(rendered, models, *ports):
    out = []
    for d in load(rendered):
        name = d["metadata"]["name"]
        if d["kind"] == "Secret" and name == "batchline-token":
            out.append(token_secret(d))
        elif d["kind"] == "ConfigMap" and name.startswith("batchline-config"):
            out.append(d)
        elif d["kind"] == "DaemonSet":
            for node, port in zip(("edge-a", "edge-b"), ports):
                p = copy.deepcopy(d)
                p["kind"] = "Deployment"
                p["metadata"]["name"] = "batchline-" + node[-1]
                spec = p["spec"]
                spec.pop("updateStrategy", None)
                spec["replicas"] = 1
                pod = spec["template"]["spec"]
                pod.pop("nodeSelector", None)
                c = pod["containers"][0]
                c["args"] = [a.replace("$(NODE_NAME)", node) for a in c["args"]]
                c["env"] = [{"name": "NODE_NAME", "value": node}]
                publish(c, port)
                for v in pod["volumes"]:
                    if v["name"] == "models":
                        v.pop("persistentVolumeClaim")
                        v["hostPath"] = {"path": models, "type": "Directory"}
                out.append(p)
    yaml.safe_dump_all(out, sys.stdout)


def fleet(rendered, port, urls):
    listed = "".join(
        '  - { name: %s, url: "%s", token_file: /etc/batchline/node-token/token }\n' % tuple(u.split("=", 1))
        for u in urls
    )
    out = []
    for d in load(rendered):
        name, kind = d["metadata"]["name"], d["kind"]
        if kind == "Secret" and name == "batchline-fleet-token":
            out.append(token_secret(d))
        elif kind == "ConfigMap" and name.startswith("batchline-fleet-config"):
            lines = [l for l in d["data"]["fleet.yaml"].splitlines() if not l.startswith("discover:")]
            d["data"]["fleet.yaml"] = "\n".join(lines) + "\nnodes:\n" + listed
            out.append(d)
        elif kind == "PersistentVolumeClaim" and name == "batchline-fleet-state":
            out.append(d)
        elif kind == "Deployment" and name == "batchline-fleet":
            publish(d["spec"]["template"]["spec"]["containers"][0], port)
            out.append(d)
    yaml.safe_dump_all(out, sys.stdout)


def volumes():
    for d in yaml.safe_load_all(sys.stdin):
        if d and d["kind"] == "Deployment":
            for v in d["spec"]["template"]["spec"]["volumes"]:
                print(
                    v.get("configMap", {}).get("name")
                    or v.get("secret", {}).get("secretName")
                    or v.get("persistentVolumeClaim", {}).get("claimName")
                    or v["name"]
                )


def nodes_up(path, show):
    n = json.load(open(path))
    if show:
        print("test-deploy: fleet nodes:", ", ".join("%s %s" % (x["name"], x["state"]) for x in n))
    return len(n) == 2 and all(x["state"] == "up" for x in n)


def camera_running(path, show):
    c = [x for x in json.load(open(path)) if x["id"] == "cam"]
    if show:
        print("test-deploy: camera cam:", json.dumps(c))
    return bool(c) and c[0].get("state") == "running" and c[0].get("node") in ("edge-a", "edge-b")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "nodes":
        nodes(*args)
    elif what == "fleet":
        fleet(args[0], args[1], args[2:])
    elif what == "volumes":
        volumes()
    elif what == "nodes-up":
        sys.exit(0 if nodes_up(args[0], len(args) > 1) else 1)
    elif what == "camera-running":
        sys.exit(0 if camera_running(args[0], len(args) > 1) else 1)
    else:
        sys.exit("fleet_play.py: unknown command " + what)
