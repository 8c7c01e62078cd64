#!/usr/bin/env bash
# batchline serve against hostile clients: usage bench/hostile.sh [seconds] (default 60).
# Two looping real-time cameras (vtest.avi at 10 fps) on the pedestrian detector, serve under an
# open-file limit of NOFILE=128 (soft and hard). Phases: the cameras alone for [seconds] (what they
# shed on their own); then each attacker below alone for [seconds], running its attack again and
# again (Tests/TestSupport/hostile_clients.py); then, with TOGETHER=1, all of them at once. Each
# phase reports the frames the cameras shed, RSS, peak RSS and threads, what its attackers got,
# and whether /v2/health/live answers after it. Writes out/bench/hostile/.
# CONFIG=debug uses the debug build. One function per attacker: add one, and list it in ATTACKERS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
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

# Each attacker: runs its attack again and again until $deadline, one JSON line a round in
# $out/PHASE/NAME.jsonl.
attack_loop() {
  local name=$1
  shift
  mkdir -p "$out/$current"
  while (($(date +%s) < deadline)); do
    $clients "$@" >>"$out/$current/$name.jsonl" 2>>"$out/$current/$name.err" || sleep 1
  done
}
idle_flood() { attack_loop idle-flood idle "$port" 150 20; }
short_bodies() { attack_loop short-body short-body "$port"; }
slow_clients() { attack_loop slow-clients slow "$port" 8 75; }
stalled_sse() { attack_loop stalled-sse stalled-sse "$port" 32 60 "$pid"; }
snapshot_flood() { attack_loop snapshot-flood snapshots "$port" entrance 500; }
big_infer() { attack_loop big-infer infer "$port" pedestrian-ssdlite 4 28; }
foreign_host() { attack_loop foreign-host host "$port" evil.example; }
ATTACKERS=${ATTACKERS:-"idle_flood short_bodies slow_clients stalled_sse snapshot_flood big_infer foreign_host"}

# One phase: `attackers` (functions) for $seconds, measured before and after; quiet without any.
phase() {
  local name=$1
  shift
  current=$name
  measure >"$out/$name.before.json"
  deadline=$(($(date +%s) + seconds))
  local pids=()
  for a in "$@"; do
    "$a" &
    pids+=($!)
  done
  if ((${#pids[@]} == 0)); then sleep "$seconds"; fi
  for j in "${pids[@]}"; do wait "$j" || true; done
  sleep 2
  measure >"$out/$name.after.json"
  curl -s -m 30 -o /dev/null -w "%{http_code}" "$addr/v2/health/live" >"$out/$name.health" || true
  echo "$name" >>"$out/phases"
}

phase quiet
for a in $ATTACKERS; do phase "$a" "$a"; done
# shellcheck disable=SC2086 # one word per attacker
if [[ ${TOGETHER:-0} == 1 ]]; then phase together $ATTACKERS; fi

python3 - "$out" "$seconds" <<'PY' | tee "$out/summary.txt"
import glob, json, os, sys
out, seconds = sys.argv[1], sys.argv[2]
print(f"batchline serve: two real-time cameras, open-file limit {os.environ.get('NOFILE', '128')}, {seconds} s a phase")
print(f"{'phase':16}{'RSS MB':>14}{'peak MB':>14}{'threads':>10}  health  cameras: frames/shed")
for phase in open(f"{out}/phases").read().split():
    b, a = (json.load(open(f"{out}/{phase}.{k}.json")) for k in ("before", "after"))
    cams = ", ".join(f"{s} {a['frames'][s] - b['frames'][s]}/{a['shed'][s] - b['shed'][s]}" + ("" if a["states"][s] == "running" else f" {a['states'][s]}") for s in a["frames"])
    print(f"{phase:16}{b['rss_mb']:>6} -> {a['rss_mb']:<5}{b['peak_mb']:>6} -> {a['peak_mb']:<5}"
          f"{b['threads']:>4} -> {a['threads']:<3}  {open(f'{out}/{phase}.health').read():6}  {cams}")
print()
print(f"{'attacker':16}{'rounds':>7}  what it got (summed over its rounds)")
for path in sorted(p for p in glob.glob(f"{out}/*/*.jsonl") if "/events/" not in p):
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
                key = f"{k}={str(v)[:60]}"
                total[key] = total.get(key, 0) + 1
    got = ", ".join(f"{k}: {v}" for k, v in sorted(total.items()))
    name = os.path.relpath(path, out)[:-6].replace("/", ":")
    print(f"{name:16}{len(rounds):>7}  {got}")
PY
