#!/usr/bin/env bash
# The batch size manager (--batch auto) against fixed batch sizes, in one run, on this machine.
#
# detector: 16 cameras (vtest.avi paced at 10 fps each: 160 frames/s offered, about what this
#           machine can do), shedding drop-oldest; each fixed B, then auto. REPS runs each, interleaved.
# classifier: the batch-friendly PaddleOCR direction classifier on 32 files run as fast as they go
#           (backlog: nothing dropped), each fixed B, then auto.
# hog:      8 cameras (80 frames/s) while another process takes one core from 4 s to 10 s.
# varying:  4 cameras, 16 more join at 6 s and leave at 14 s (40 -> 200 -> 40 frames/s offered).
# SECTIONS=varying bench/batching.sh runs one section.
# Reports processed frames per second (mean, min-max over the runs), frames shed, and lag p99.
# Writes out/bench/batching.md. About 5 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh >/dev/null 2>&1
swift build -c release --product batchline --quiet
out=out/bench
mkdir -p "$out"
bin=.build/release/batchline
reps=${REPS:-2}

sources() { for _ in $(seq "$1"); do printf -- '--source assets/vtest.avi '; done; }

one() { # hog(0/1) file, batchline args... -> appends one JSON line to file
  local hog=$1 file=$2
  shift 2
  local hog_pid=
  if [[ $hog == 1 ]]; then
    (sleep 4; timeout 6 python3 -c 'while True: pass') &
    hog_pid=$!
  fi
  "$bin" run "$@" --stats "$out/stats.json" >/dev/null
  if [[ -n $hog_pid ]]; then wait "$hog_pid" || true; fi
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps({"fps": s["frames"]/s["seconds"], "frames": s["frames"], "dropped": s["dropped"], "lag": max(x["lag"]["p99_ms"] for x in s["streams"]), "sizes": s["batch_sizes"], "decisions": len(s["batch_decisions"])}))' "$out/stats.json" >>"$file"
}

table() { # title, hog, labels..., then "--" and per-label args separated by "|"
  local title=$1 hog=$2
  shift 2
  local -a labels=() argsets=()
  while [[ $1 != -- ]]; do labels+=("$1"); shift; done
  shift
  IFS='|' read -r -a argsets <<<"$*"
  local tmp
  tmp=$(mktemp -d)
  for _ in $(seq "$reps"); do
    for i in "${!labels[@]}"; do
      # shellcheck disable=SC2086
      one "$hog" "$tmp/$i" ${argsets[$i]}
    done
  done
  echo "### $title"
  echo
  echo "| run | processed frames/s, mean (min-max) | shed per run | lag p99 ms | batches (last run) | decisions |"
  echo "|---|---|---|---|---|---|"
  for i in "${!labels[@]}"; do
    python3 - "${labels[$i]}" "$tmp/$i" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
runs = [json.loads(l) for l in open(path)]
f = [r["fps"] for r in runs]
last = runs[-1]
sizes = " ".join(f"{k}x{v}" for k, v in sorted(last["sizes"].items(), key=lambda kv: int(kv[0])))
print(f"| {label} | {sum(f)/len(f):.1f} ({min(f):.1f}-{max(f):.1f}) | {sum(r['dropped'] for r in runs)/len(runs):.0f} | "
      f"{max(r['lag'] for r in runs):.0f} | {sizes} | {last['decisions']} |")
PY
  done
  echo
  rm -rf "$tmp"
}

det="$(sources 16) --model models/pedestrian-ssdlite/1 --realtime --max-frames 100 --shed drop-oldest"
cls="$(sources 32) --model models/ppocr-cls/1 --shed backlog"
hog="$(sources 8) --model models/pedestrian-ssdlite/1 --realtime --max-frames 150 --shed drop-oldest"
vary="$(sources 20) $(for i in $(seq 4 19); do printf -- '--schedule %s:6-14 ' "$i"; done) --model models/pedestrian-ssdlite/1 --realtime --max-frames 200 --shed drop-oldest"
sections=${SECTIONS:-detector classifier hog varying}
want() { [[ " $sections " == *" $1 "* ]]; }
{
  want detector && table "detector: 16 cameras at 10 fps (160 frames/s offered), $reps runs each" 0 \
    "fixed B=1" "fixed B=2" "fixed B=4" "fixed B=8" "auto (realtime)" -- \
    "$det --batch 1|$det --batch 2|$det --batch 4|$det --batch 8|$det --batch auto"
  want classifier && table "classifier: 32 files as fast as they go (25,440 frames), $reps runs each" 0 \
    "fixed B=1" "fixed B=8" "fixed B=32" "auto (realtime)" -- \
    "$cls --batch 1|$cls --batch 8|$cls --batch 32|$cls --batch auto --batch-sizes 1,2,4,8,16,32"
  want hog && table "hog: 8 cameras at 10 fps, a CPU hog on one core from 4 s to 10 s" 1 \
    "fixed B=1" "fixed B=4" "auto (realtime)" -- \
    "$hog --batch 1|$hog --batch 4|$hog --batch auto"
  want varying && table "varying: 4 cameras, 16 more from 6 s to 14 s (40 -> 200 -> 40 frames/s)" 0 \
    "fixed B=1" "fixed B=4" "auto (realtime)" -- \
    "$vary --batch 1|$vary --batch 4|$vary --batch auto"
  true
} | tee "$out/batching.md"
