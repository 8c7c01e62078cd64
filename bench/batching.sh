#!/usr/bin/env bash
# The batch size manager against fixed batch sizes, on the real detector and live-paced streams.
#
# steady: 16 cameras (vtest.avi paced at 10 fps each, 160 frames/s offered, above what this
#         machine can do), each fixed B in a sweep, then --batch auto; shedding drop-oldest.
# hog:    8 cameras (80 frames/s) while another process takes one core for 6 s mid-run.
# It reports frames processed per second, frames shed, and lag (decode to event) p99.
# Writes out/bench/batching.md. About 4 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh >/dev/null 2>&1
swift build -c release --product batchline --quiet
out=out/bench
mkdir -p "$out"
bin=.build/release/batchline
model=models/pedestrian-ssdlite/1
frames=${FRAMES:-150}

sources() { for _ in $(seq "$1"); do printf -- '--source assets/vtest.avi '; done; }

run() { # label streams hog(0/1) args...
  local label=$1 n=$2 hog=$3
  shift 3
  local hog_pid=
  if [[ $hog == 1 ]]; then
    (sleep 4; timeout 6 python3 -c 'while True: pass') &
    hog_pid=$!
  fi
  # shellcheck disable=SC2046
  "$bin" run $(sources "$n") --model "$model" --realtime --max-frames "$frames" --shed drop-oldest \
    "$@" --stats "$out/stats.json" >/dev/null
  [[ -n $hog_pid ]] && wait "$hog_pid" || true
  python3 - "$label" "$out/stats.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
lag = max(st["lag"]["p99_ms"] for st in s["streams"])
sizes = " ".join(f"{k}x{v}" for k, v in sorted(s["batch_sizes"].items(), key=lambda kv: int(kv[0])))
print(f"| {label} | {s['frames']} | {s['dropped']} | {s['frames']/s['seconds']:.1f} | {lag:.0f} | {sizes} | {len(s['batch_decisions'])} |")
PY
}

{
  echo "### steady: 16 cameras at 10 fps (160 frames/s offered)"
  echo
  echo "| run | frames processed | shed | processed frames/s | lag p99 ms | batches | decisions |"
  echo "|---|---|---|---|---|---|---|"
  for b in 1 2 4 8; do run "fixed B=$b" 16 0 --batch "$b"; done
  run "auto (realtime)" 16 0 --batch auto
  echo
  echo "### hog: 8 cameras at 10 fps (80 frames/s), a CPU hog on one core from 4 s to 10 s"
  echo
  echo "| run | frames processed | shed | processed frames/s | lag p99 ms | batches | decisions |"
  echo "|---|---|---|---|---|---|---|"
  for b in 1 4; do run "fixed B=$b" 8 1 --batch "$b"; done
  run "auto (realtime)" 8 1 --batch auto
} | tee "$out/batching.md"
