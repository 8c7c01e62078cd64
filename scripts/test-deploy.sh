#!/usr/bin/env bash
# The container tests (scripts/test.sh runs them after the Swift tests): the image builds with
# scripts/image.sh; run with podman it becomes ready, serves its bundled streams, answers /metrics
# and exits 0 on `podman stop`; each overlay's config passes `serve --check-config` inside the
# image; `podman kube play` of the single-node rendering becomes ready and `podman kube down`
# removes it; `podman kube play` of the fleet overlay (two node pods and the fleet) runs a camera
# the fleet placed on a node pod. Every check says what it saw; the first failure ends the run
# with exit 1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}
image=localhost/batchline:dev
py=$root/.deps/venv/bin/python
work=$(mktemp -d)
name=batchline-test-$$
volumes=()
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  [[ -f $work/single-node.yaml ]] && podman kube down "$work/single-node.yaml" >/dev/null 2>&1 || true
  [[ -f $work/fleet-fleet.yaml ]] && podman kube down "$work/fleet-fleet.yaml" >/dev/null 2>&1 || true
  [[ -f $work/fleet-nodes.yaml ]] && podman kube down "$work/fleet-nodes.yaml" >/dev/null 2>&1 || true
  podman secret rm batchline-token batchline-fleet-token >/dev/null 2>&1 || true
  # kube down (podman 4.3) leaves the pod's volumes: the ConfigMap's, the Secret's, the emptyDirs.
  for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf 'test-deploy: %s\n' "$*"; }
fail() {
  printf 'test-deploy: FAIL: %s\n' "$*" >&2
  exit 1
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# get URL: the status code (000 when nothing answers).
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" || true; }
# wait_ready URL SECONDS
wait_ready() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    [[ $(status "$1/v2/health/ready") == 200 ]] && return 0
    sleep 1
  done
  return 1
}

# streams_running URL: polls (up to 60 s) until both bundled streams run with frames per second
# above 0; prints what it saw last.
running='
import json, sys
s = json.loads(sys.argv[1])
if len(sys.argv) > 2:
    print("test-deploy: streams:", ", ".join("%s %s %.1f fps" % (x["id"], x["state"], x["fps"]) for x in s))
sys.exit(0 if len(s) == 2 and all(x["state"] == "running" and x["fps"] > 0 for x in s) else 1)'
streams_running() {
  local streams="" _
  for _ in $(seq 1 60); do
    streams=$(curl -s --max-time 3 "$1/api/v1/streams")
    "$py" -c "$running" "$streams" 2>/dev/null && break
    sleep 1
  done
  "$py" -c "$running" "$streams" print
}

# 5. podman kube play of the fleet overlay: its node DaemonSet played as two Deployments (podman
# 4.3 plays no DaemonSet; each named as a Kubernetes node would name it), the models from this
# checkout (a hostPath for the overlay's ReadOnlyMany claim), then the fleet's Deployment, claim
# and Secret as rendered, its nodes listed by their pods' addresses (podman has no Services: the
# headless Service's discovery is tested against DNS in FleetNodesTests). The fleet must see both
# nodes up and run a camera placed `auto` on one of them.
fleet_play() {
  kubectl kustomize deploy/kubernetes/overlays/fleet >"$work/fleet.yaml"
  "$py" scripts/deploy/fleet_play.py nodes "$work/fleet.yaml" "$root/models" "$(free_port)" "$(free_port)" \
    >"$work/fleet-nodes.yaml"
  # What an earlier run cut short may have left: kube play refuses a Secret or claim that exists.
  podman secret rm batchline-token batchline-fleet-token >/dev/null 2>&1 || true
  podman volume rm -f batchline-fleet-state >/dev/null 2>&1 || true
  podman kube play "$work/fleet-nodes.yaml" >"$work/play-nodes.log" 2>&1 || {
    cat "$work/play-nodes.log" >&2
    fail "podman kube play of the fleet's nodes"
  }
  # pod_ip POD: the address of POD's container.
  pod_ip() {
    local c
    c=$(podman ps --format '{{.Names}}' --filter "pod=$1" | grep -v -- '-infra$' | head -1)
    podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c"
  }
  node_urls=()
  for node in a b; do
    npod=$(podman pod ps --format '{{.Name}}' --filter "name=batchline-$node" | head -1)
    [[ -n $npod ]] || fail "kube play started no pod for node edge-$node: $(cat "$work/play-nodes.log")"
    nip=$(pod_ip "$npod")
    wait_ready "http://$nip:8080" 120 || fail "node pod $npod ($nip) is not ready within 120 s"
    node_urls+=("edge-$node=http://$nip:8080")
    say "fleet overlay: node pod $npod ready at $nip:8080"
  done
  "$py" scripts/deploy/fleet_play.py fleet "$work/fleet.yaml" "$(free_port)" "${node_urls[@]}" >"$work/fleet-fleet.yaml"
  podman kube play "$work/fleet-fleet.yaml" >"$work/play-fleet.log" 2>&1 || {
    cat "$work/play-fleet.log" >&2
    fail "podman kube play of the fleet"
  }
  mapfile -t volumes < <(cat "$work/fleet-nodes.yaml" "$work/fleet-fleet.yaml" | "$py" scripts/deploy/fleet_play.py volumes)
  fpod=$(podman pod ps --format '{{.Name}}' --filter name=batchline-fleet | head -1)
  [[ -n $fpod ]] || fail "kube play started no fleet pod: $(cat "$work/play-fleet.log")"
  fcontainer=$(podman ps --format '{{.Names}}' --filter "pod=$fpod" | grep -v -- '-infra$' | head -1)
  furl=http://$(pod_ip "$fpod"):8090
  wait_ready "$furl" 60 || {
    podman logs "$fcontainer" 2>&1 | tail -20 >&2
    fail "the fleet pod ($furl) is not ready within 60 s"
  }
  for _ in $(seq 1 60); do
    curl -s --max-time 3 "$furl/api/v1/fleet/nodes" >"$work/nodes.json" || true
    "$py" scripts/deploy/fleet_play.py nodes-up "$work/nodes.json" 2>/dev/null && break
    sleep 1
  done
  "$py" scripts/deploy/fleet_play.py nodes-up "$work/nodes.json" print || fail "the fleet does not see both node pods up"
  ftoken=$(podman exec "$fcontainer" cat /etc/batchline/fleet-token/token)
  code=$(curl -s -o "$work/camera.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $ftoken" \
    -d '{"id":"cam","source":"/opt/batchline/assets/vtest.avi","model":"pedestrian-ssdlite","loop":true,"realtime":true,"node":"auto"}' \
    "$furl/api/v1/fleet/cameras")
  [[ $code == 201 ]] || fail "POST /api/v1/fleet/cameras answered $code: $(cat "$work/camera.json")"
  for _ in $(seq 1 120); do
    curl -s --max-time 3 "$furl/api/v1/fleet/cameras" >"$work/cameras.json" || true
    "$py" scripts/deploy/fleet_play.py camera-running "$work/cameras.json" 2>/dev/null && break
    sleep 1
  done
  "$py" scripts/deploy/fleet_play.py camera-running "$work/cameras.json" print || {
    podman logs "$fcontainer" 2>&1 | tail -20 >&2
    fail "the camera placed auto is not running on a node pod"
  }
  podman kube down "$work/fleet-fleet.yaml" >/dev/null
  podman kube down "$work/fleet-nodes.yaml" >/dev/null
  if podman pod exists "$fpod"; then fail "podman kube down left pod $fpod"; fi
  say "kube play of the fleet overlay: a camera placed auto runs on a node pod; kube down removed the pods"
}

# `scripts/test-deploy.sh --fleet`: step 5 alone, on the image built before.
if [[ ${1:-} == --fleet ]]; then
  fleet_play
  say "passed"
  exit 0
fi

# 1. The image.
scripts/image.sh "$image"
size=$(podman image inspect --format '{{.Size}}' "$image")
user=$(podman image inspect --format '{{.Config.User}}' "$image")
say "image $image: $((size / 1000000)) MB, user $user"
((size < 500 * 1000 * 1000)) || fail "the image is $((size / 1000000)) MB (the aim is under 500 MB)"
[[ ${user%%:*} != 0 && ${user%%:*} != root && -n $user ]] || fail "the image runs as root"

# 2. Run it as `podman run` does by default: ready, streams running, /metrics, exit 0 on stop.
port=$(free_port)
podman run -d --name "$name" -p "127.0.0.1:$port:8080" "$image" >/dev/null
url=http://127.0.0.1:$port
start=$SECONDS
wait_ready "$url" 120 || {
  podman logs "$name" 2>&1 | tail -20 >&2
  fail "not ready within 120 s"
}
say "ready after $((SECONDS - start)) s"
streams_running "$url" || fail "the bundled streams are not both running with frames per second above 0"
metrics=$(curl -s --max-time 5 "$url/metrics")
grep -q '^batchline_frames_total' <<<"$metrics" || fail "/metrics has no batchline_frames_total"
say "/metrics: $(grep -c '^batchline_' <<<"$metrics") batchline_ samples"
t0=$SECONDS
podman stop -t 15 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
say "podman stop: exit $code after $((SECONDS - t0)) s"
[[ $code == 0 ]] || {
  podman logs "$name" 2>&1 | tail -20 >&2
  fail "exit $code on podman stop (SIGTERM)"
}
podman rm "$name" >/dev/null

# 3. Each overlay's config, checked by the image itself (its paths, its models).
for overlay in edge nvidia-gpu single-node; do
  kubectl kustomize "deploy/kubernetes/overlays/$overlay" >"$work/$overlay.yaml"
  "$py" - "$work/$overlay.yaml" "$work/$overlay-serve.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
open(sys.argv[2], "w").write(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["serve.yaml"])
EOF
  out=$(podman run --rm -v "$work/$overlay-serve.yaml:/etc/batchline/config/serve.yaml:ro" \
    -v "$root/models:/var/lib/batchline/models:ro" "$image" serve --check-config /etc/batchline/config/serve.yaml 2>&1) ||
    fail "$overlay: serve --check-config: $out"
  say "$overlay: $out"
done
printf 'streams:\n  - { id: cam, source: /opt/batchline/assets/nowhere.mp4, model: pedestrian-ssdlite }\n' >"$work/bad.yaml"
if out=$(podman run --rm -v "$work/bad.yaml:/etc/batchline/config/serve.yaml:ro" "$image" \
  serve --check-config /etc/batchline/config/serve.yaml 2>&1); then
  fail "a bad config passed the check: $out"
fi
[[ $(wc -l <<<"$out") == 1 && $out == *"streams[0].source: no such file: /opt/batchline/assets/nowhere.mp4"* ]] || fail "bad config: $out"
say "a bad config is refused: $out"

# 4. podman kube play of the single-node rendering (with a token set, as a deployment sets it).
# The token set, as `kubectl create secret` sets it (`data`, base64: podman 4.3's kube play reads
# no `stringData`); kube play makes the Secret a podman secret and mounts it.
"$py" - "$work/single-node.yaml" "$work/token" <<'EOF'
import base64, secrets, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Secret":
        del d["stringData"]
        token = secrets.token_hex(32)
        d["data"] = {"token": base64.b64encode(token.encode()).decode()}
        open(sys.argv[2], "w").write(token)
yaml.safe_dump_all(docs, open(sys.argv[1], "w"))
EOF
podman secret rm batchline-token >/dev/null 2>&1 || true
podman kube play "$work/single-node.yaml" >"$work/play.log" 2>&1 || {
  cat "$work/play.log" >&2
  fail "podman kube play"
}
pod=$(podman pod ps --format '{{.Name}}' --filter name=batchline | head -1)
mapfile -t volumes < <("$py" - "$work/single-node.yaml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        for v in d["spec"]["template"]["spec"]["volumes"]:
            print(v.get("configMap", {}).get("name") or v.get("secret", {}).get("secretName") or v["name"])
EOF
)
[[ -n $pod ]] || fail "podman kube play started no pod: $(cat "$work/play.log")"
container=$(podman ps --format '{{.Names}}' --filter "pod=$pod" | grep -v -- '-infra$' | head -1)
ip=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$container")
[[ -n $ip ]] || ip=$(podman inspect --format '{{.NetworkSettings.IPAddress}}' "$container")
start=$SECONDS
wait_ready "http://$ip:8080" 120 || {
  podman logs "$container" 2>&1 | tail -20 >&2
  fail "the kube play pod ($container at $ip) is not ready within 120 s"
}
say "kube play: pod $pod ready after $((SECONDS - start)) s at $ip:8080 (read-only root: $(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$container"))"
streams_running "http://$ip:8080" || fail "the kube play pod's streams are not both running"
# The Secret's token guards the mutating routes.
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://$ip:8080/api/v1/streams/lobby")
[[ $code == 401 ]] || fail "DELETE without the token answered $code, not 401"
# podman 4.3 writes a Secret's `data` into the volume still base64-encoded (Kubernetes decodes it):
# the pod's token is whichever of the two the file holds.
mounted=$(podman exec "$container" cat /etc/batchline/token/token)
[[ $mounted == "$(cat "$work/token")" || $mounted == "$(printf %s "$(cat "$work/token")" | base64 -w0)" ]] ||
  fail "the pod's token file does not hold the Secret's token"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $mounted" \
  "http://$ip:8080/api/v1/streams/lobby")
[[ $code == 200 || $code == 204 ]] || fail "DELETE with the Secret's token answered $code"
say "kube play: the Secret's token is the one the pod asks for (401 without it, $code with it)"
podman kube down "$work/single-node.yaml" >/dev/null
if podman pod exists "$pod"; then fail "podman kube down left pod $pod"; fi
say "kube down: pod $pod removed"
for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
podman secret rm batchline-token >/dev/null 2>&1 || true

fleet_play
say "passed"
