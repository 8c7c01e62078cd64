#!/usr/bin/env bash
# The batch size manager (--batch auto) against fixed batch sizes, in one run, on this machine.
#
# detector: 16 cameras (vtest.avi paced at 10 fps each: 160 frames/s offered, about what this
#           machine can do), shedding drop-oldest; each fixed B, then auto. REPS runs each, interleaved.
# classifier: the batch-friendly PaddleOCR direction classifier on 32 files run as fast as they go
#           (backlog: nothing dropped), each fixed B, then auto.
# hog:      8 cameras (80 frames/s) while another process takes one core from 4 s to 10 s.
# varying:  4 cameras, 16 more join at 6 s and leave at 14 s (40 -> 200 -> 40 frames/s offered).
# cameras:  2 to 7 real-time 720p25 cameras (vtest.avi scaled to 1280x720 at 25 fps with FFmpeg:
#           50-175 frames/s offered: up to and past this machine's ~155), 400 frames each, drop-oldest;
#           dropped frames and lag p99 for each fixed B and auto, and auto against the best fixed B.
# SECTIONS=varying bench/batching.sh runs one section.
# Reports processed frames per second (mean, min-max over the runs), frames shed, and lag p99.
# Writes out/bench/batching.md. About 5 minutes, and 20 more for the cameras section.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh >/dev/null 2>&1
swift build -c release --product batchline --quiet
out=out/bench
mkdir -p "$out"
bin=.build/release/batchline
reps=${REPS:-2}

sources() { for _ in $(seq "$1"); do printf -- '--source %s ' "${2:-assets/vtest.avi}"; done; }

clip=assets/vtest-720p25.mp4
make_clip() { # the 720p25 camera clip, made once with FFmpeg's command line
  [[ -s $clip ]] && return
  if ! command -v ffmpeg >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
    else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; fi
  fi
  ffmpeg -loglevel error -y -i assets/vtest.avi -vf scale=1280:720,fps=25 -c:v libx264 -preset veryfast \
    -pix_fmt yuv420p -g 50 "$clip.tmp.mp4"
  mv "$clip.tmp.mp4" "$clip"
}

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

cameras() { # n: fixed B=1,2,4,8 and auto, REPS runs each, interleaved; dropped frames and lag p99
  local n=$1 tmp i
  local args
  args="$(sources "$n" "$clip") --model models/pedestrian-ssdlite/1 --realtime --max-frames 400 --shed drop-oldest"
  local -a labels=("fixed B=1" "fixed B=2" "fixed B=4" "fixed B=8" "auto (realtime)")
  local -a batch=(1 2 4 8 auto)
  tmp=$(mktemp -d)
  for _ in $(seq "$reps"); do
    for i in "${!labels[@]}"; do
      # shellcheck disable=SC2086
      one 0 "$tmp/$i" $args --batch "${batch[$i]}"
    done
  done
  echo "### $n cameras, 720p25 ($((n * 25)) frames/s offered, $((n * 400)) frames a run), $reps runs each"
  echo
  echo "| run | dropped per run | dropped, % of frames | lag p99 ms (worst run) | processed frames/s | batches (last run) |"
  echo "|---|---|---|---|---|---|"
  python3 - "$tmp" "$n" "${labels[@]}" <<'PY'
import json, sys
tmp, n, labels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
total = n * 400
means = {}
for i, label in enumerate(labels):
    runs = [json.loads(l) for l in open(f"{tmp}/{i}")]
    drops = [r["dropped"] for r in runs]
    means[label] = sum(drops) / len(drops)
    last = runs[-1]
    sizes = " ".join(f"{k}x{v}" for k, v in sorted(last["sizes"].items(), key=lambda kv: int(kv[0])))
    fps = sum(r["fps"] for r in runs) / len(runs)
    print(f"| {label} | {means[label]:.0f} ({', '.join(str(d) for d in drops)}) | {100 * means[label] / total:.2f}% | "
          f"{max(r['lag'] for r in runs):.0f} | {fps:.1f} | {sizes} |")
best = min((v, k) for k, v in means.items() if k.startswith("fixed"))
auto = means[labels[-1]]
diff = 100 * (auto - best[0]) / total
print(f"\nauto dropped {auto:.0f} against {best[0]:.0f} for the best fixed size ({best[1]}): "
      f"{diff:+.2f}% of all frames ({'within' if diff <= 0.5 else '**not** within'} 0.5%)\n")
PY
  rm -rf "$tmp"
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
sections=${SECTIONS:-detector classifier hog varying cameras}
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
  if want cameras; then
    make_clip
    for n in ${CAMERAS:-2 3 4 5 6 7}; do cameras "$n"; done
  fi
  true
} | tee "$out/batching.md"
