#!/usr/bin/env bash
# Model swaps on a running pipeline, against the same run without swaps, in one go, on this machine.
#
# saturated: 12 copies of vtest.avi as fast as they go (backlog: nothing dropped), pedestrian detector
#            from a two-version repository; SWAPS swaps (`batchline models activate`), 1 s apart.
#            The pause is the time frames waited with no inference running at the switch point; the
#            reference for it is what a stop-and-reload would stall the stream for (load + compile +
#            warm-up of the new version, measured in the same run). Throughput is compared with the
#            same run without swaps.
# realtime:  8 cameras (vtest.avi paced at 10 fps: 80 frames/s), the same swaps; frame lag with and
#            without them.
# Writes out/bench/swap.md, and timelines (frames/s and lag, swaps marked) in
# out/bench/swap/{saturated,realtime}/timeline.svg. About 3 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh >/dev/null 2>&1
swift build -c release --product batchline --quiet
bin=.build/release/batchline
out=out/bench/swap
swaps=${SWAPS:-6}
rm -rf "$out"
mkdir -p "$out/repo/pedestrian"
cp -r models/pedestrian-ssdlite/1 "$out/repo/pedestrian/1"
cp -r models/pedestrian-ssdlite/1 "$out/repo/pedestrian/2"
repo=$out/repo/pedestrian
sock=$out/control.sock

sources() { for _ in $(seq "$1"); do printf -- '--source assets/vtest.avi '; done; }

run() { # name, swaps(0/1), run args... -> $out/<name>.json
  local name=$1 swap=$2
  shift 2
  # shellcheck disable=SC2068
  "$bin" run --model "$repo" --model-version 1 --control "$sock" --no-watch --stats "$out/$name.json" $@ \
    >"$out/$name.log" 2>&1 &
  local pid=$!
  if [[ $swap == 1 ]]; then
    for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done
    sleep 2
    local v=1
    for _ in $(seq "$swaps"); do
      v=$((3 - v))
      "$bin" models activate "$repo" "$v" --control "$sock" >>"$out/$name.swaps" || true
      sleep 1
    done
  fi
  wait "$pid"
}

sat="$(sources 12) --shed backlog"
rt="$(sources 8) --realtime --max-frames $((swaps * 50 + 50))"
run saturated-ref 0 "$sat"
run saturated 1 "$sat"
run realtime-ref 0 "$rt"
run realtime 1 "$rt"

for name in saturated realtime; do
  "$bin" profile --timeline "$out/$name.json" --out "$out/$name" >/dev/null
done

python3 - "$out" "$swaps" <<'PY' | tee out/bench/swap.md
import json, sys, statistics as st
out, n = sys.argv[1], int(sys.argv[2])
load = lambda name: json.load(open(f"{out}/{name}.json"))
def fps(s): return s["frames"] / s["seconds"]
def lag(s, k): return max(x["lag"][k] for x in s["streams"])
sat, ref = load("saturated"), load("saturated-ref")
rt, rtref = load("realtime"), load("realtime-ref")
print(f"### Model swaps, {n} per run (pedestrian detector, version 1 <-> 2)\n")
print("| run | swaps done | load s | compile s | warm-up s | request to switch s | pause ms (max) | stop-and-reload would stall ms | pause / stall |")
print("|---|---|---|---|---|---|---|---|---|")
for label, s in [("saturated: 12 files as fast as they go", sat), ("real time: 8 cameras at 10 fps", rt)]:
    w = [x for x in s["model_swaps"] if x["outcome"] == "swapped"]
    if not w:
        print(f"| {label} | 0 | | | | | | | |"); continue
    m = lambda k: st.mean(x[k] for x in w)
    stall = st.mean(x["load_s"] + x["compile_s"] + x["warmup_s"] for x in w) * 1000
    pause = max(x["pause_s"] for x in w) * 1000
    total = st.mean(x["switched_at_s"] - x["requested_at_s"] for x in w)
    print(f"| {label} | {len(w)} of {n} | {m('load_s'):.2f} | {m('compile_s'):.2f} | {m('warmup_s'):.3f} | {total:.2f} | "
          f"{pause:.1f} | {stall:.0f} | {pause / stall:.3f} |")
print()
print("| run | frames | frames/s | vs. no swaps | dropped | lag p99 ms | lag max ms |")
print("|---|---|---|---|---|---|---|")
for label, s, r in [("saturated, no swaps", ref, ref), ("saturated, swaps", sat, ref),
                    ("real time, no swaps", rtref, rtref), ("real time, swaps", rt, rtref)]:
    print(f"| {label} | {s['frames']} | {fps(s):.1f} | {fps(s) / fps(r):.3f} | {s['dropped']} | "
          f"{lag(s, 'p99_ms'):.0f} | {lag(s, 'max_ms'):.0f} |")
PY
