#!/usr/bin/env bash
# batchline serve against hostile clients: usage bench/hostile.sh [seconds] (default 180).
# Two looping real-time cameras (vtest.avi at 10 fps) on the pedestrian detector, serve under an
# open-file limit of NOFILE=128 (soft and hard), first left alone for QUIET=30 seconds (what the
# cameras shed on their own), then with every attacker below in a loop for [seconds]
# (Tests/TestSupport/hostile_clients.py). Reports the frames the cameras shed in each phase, RSS,
# peak RSS and threads, and what each attacker got. Writes out/bench/hostile/.
# CONFIG=debug uses the debug build. One function per attacker: add one, and list it in ATTACKERS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-180}
config=${CONFIG:-release}
swift build -c "$config" --product batchline --quiet
out=out/bench/hostile
rm -rf "$out" && mkdir -p "$out"
cat >"$out/serve.yaml" <<YAML
server: { host: 127.0.0.1, port: 8080 }
models: { repository: models }
output: { events: $out/events }
batching: { policy: realtime, sizes: [1, 2, 4, 8] }
streams:
  - { id: entrance, source: assets/vtest.avi, model: pedestrian-ssdlite, loop: true, realtime: true }
  - { id: lobby, source: assets/vtest.avi, model: pedestrian-ssdlite, loop: true, realtime: true }
YAML
(ulimit -n "${NOFILE:-128}" && exec ".build/$config/batchline" serve --config "$out/serve.yaml" --port 0) \
  >"$out/stdout" 2>"$out/stderr" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q "listening on" "$out/stdout" 2>/dev/null && break; sleep 0.2; done
addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$out/stdout")
port=${addr##*:}
for _ in $(seq 600); do curl -sf "$addr/v2/health/ready" >/dev/null && break; sleep 0.2; done
sleep 5
clients="python3 Tests/TestSupport/hostile_clients.py"

# What the process and its cameras stand at: one JSON line.
measure() {
  python3 - "$pid" "$addr" <<'PY'
import json, sys, urllib.request
pid, addr = sys.argv[1], sys.argv[2]
status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
kb = lambda k: int(status[k].split()[0])
streams = json.load(urllib.request.urlopen(addr + "/api/v1/streams", timeout=30))
print(json.dumps({"rss_mb": kb("VmRSS") // 1024, "peak_mb": kb("VmHWM") // 1024, "threads": int(status["Threads"]),
                  "frames": {s["id"]: s["frames"] for s in streams}, "shed": {s["id"]: s["dropped"] for s in streams},
                  "states": {s["id"]: s["state"] for s in streams}}))
PY
}

# Each attacker: runs its attack again and again until $deadline, one JSON line a round in $out/NAME.jsonl.
attack_loop() {
  local name=$1
  shift
  while (($(date +%s) < deadline)); do $clients "$@" >>"$out/$name.jsonl" 2>>"$out/$name.err" || sleep 1; done
}
idle_flood() { attack_loop idle-flood idle "$port" 150 20; }
short_bodies() { attack_loop short-body short-body "$port"; }
stalled_sse() { attack_loop stalled-sse stalled-sse "$port" 32 60 "$pid"; }
snapshot_flood() { attack_loop snapshot-flood snapshots "$port" entrance 500; }
big_infer() { attack_loop big-infer infer "$port" pedestrian-ssdlite 4 28; }
foreign_host() { attack_loop foreign-host host "$port" evil.example; }
ATTACKERS=${ATTACKERS:-"idle_flood short_bodies stalled_sse snapshot_flood big_infer foreign_host"}

measure >"$out/quiet.json"
sleep "${QUIET:-30}"
measure >"$out/before.json"
deadline=$(($(date +%s) + seconds))
attackers=()
for a in $ATTACKERS; do
  "$a" &
  attackers+=($!)
done
for j in "${attackers[@]}"; do wait "$j" || true; done
sleep 2
measure >"$out/after.json"
curl -s -o /dev/null -w "%{http_code}" "$addr/v2/health/live" >"$out/health"

python3 - "$out" "$seconds" <<'PY' | tee "$out/summary.txt"
import glob, json, os, sys
out, seconds = sys.argv[1], sys.argv[2]
quiet, before, after = (json.load(open(f"{out}/{n}.json")) for n in ("quiet", "before", "after"))
print(f"batchline serve, {seconds} s of hostile clients (two real-time cameras, open-file limit {os.environ.get('NOFILE', '128')})")
print(f"{'':22}{'before':>12}{'after':>12}")
for k, label in (("rss_mb", "RSS MB"), ("peak_mb", "peak RSS MB"), ("threads", "threads")):
    print(f"{label:22}{before[k]:>12}{after[k]:>12}")
for s in after["frames"]:
    alone = f"{before['frames'][s] - quiet['frames'][s]} frames, {before['shed'][s] - quiet['shed'][s]} shed"
    attacked = f"{after['frames'][s] - before['frames'][s]} frames, {after['shed'][s] - before['shed'][s]} shed"
    print(f"{'camera ' + s:22}alone: {alone}; attacked: {attacked}; {after['states'][s]}")
print(f"health after: {open(out + '/health').read()}")
print(f"{'attacker':16}{'rounds':>7}  what it got (summed over rounds)")
for path in sorted(glob.glob(f"{out}/*.jsonl")):
    rounds = [json.loads(l) for l in open(path) if l.strip()]
    total = {}
    for r in rounds:
        for k, v in r.items():
            if isinstance(v, dict):
                for s, c in v.items():
                    total[f"{k} {s}"] = total.get(f"{k} {s}", 0) + c
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("health", "status"):
                total[k] = total.get(k, 0) + v
            else:
                key = f"{k}={v}"
                total[key] = total.get(key, 0) + 1
    got = ", ".join(f"{k}: {v}" for k, v in sorted(total.items()))
    print(f"{os.path.basename(path)[:-6]:16}{len(rounds):>7}  {got}")
PY
