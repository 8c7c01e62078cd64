#!/usr/bin/env bash
# FP32 against INT8 in one run, on this machine: the bundled detector (version 1, FP32 as trained)
# and the INT8 version `batchline models quantize` makes of it from vtest.avi frames (version 2).
#   accuracy:  the gate's figures (F1 against FP32, IoU >= 0.7; mean IoU) on vtest.avi's held-back
#              frames, and on frames of a 720p25 clip (vtest.avi scaled with FFmpeg) it never saw;
#   inference: OpenVINO's benchmark_app at [1,300,300,3] and [4,300,300,3], each version in turn;
#   end to end: `batchline run --batch auto` frames per second on vtest.avi and on the 720p clip
#              (RUNS runs each, interleaved, the median);
#   cameras:   how many real-time 720p25 cameras each keeps with --batch auto (400 frames each,
#              at most 0.5% of the frames shed), counting up from CAMERAS_FROM.
# Writes out/bench/quantize.md. About 15 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
swift build -c release --product batchline --quiet
bin=.build/release/batchline
app=.deps/venv/bin/benchmark_app
out=out/bench
mkdir -p "$out"
runs=${RUNS:-3}
t=${SECONDS_PER_APP:-15}
clip=assets/vtest-720p25.mp4
if [[ ! -s $clip ]]; then
  command -v ffmpeg >/dev/null || scripts/bootstrap.sh --test-peers
  ffmpeg -loglevel error -y -i assets/vtest.avi -vf scale=1280:720,fps=25 -c:v libx264 -preset veryfast \
    -g 25 -pix_fmt yuv420p "$clip"
fi
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
model=$repo/pedestrian-ssdlite
mkdir -p "$model" && cp -r models/pedestrian-ssdlite/1 "$model/1"
report=$out/quantize.md

echo "quantize: making the INT8 version (calibrated on vtest.avi)" >&2
start=$SECONDS
vtest_gate=$("$bin" models quantize "$model" --calibration assets/vtest.avi --frames 300 2>"$out/quantize.log")
made=$((SECONDS - start))
# The same quantisation checked on the 720p clip's frames (a third version, or refused: either way its figures).
clip_gate=$("$bin" models quantize "$model" --calibration assets/vtest.avi --frames 300 --check-on "$clip" 2>&1 |
  sed -n 's/.*refused: \(.*\); kept.*/refused: \1/p; s/^version [0-9]* ([^)]*): \(.*\): .*/\1/p')
rm -rf "$model/3" "$model/.3.refused"

fps_app() { # model shape-batch
  "$app" -m "$1" -shape "[$2,300,300,3]" -d CPU -t "$t" 2>&1 | sed -n 's/.*Throughput: *\([0-9.]*\) FPS.*/\1/p'
}
declare -A app_fps
for b in 1 4; do
  for v in 1 2; do
    f=$model/$v/frozen_inference_graph.pb
    [[ $v == 2 ]] && f=$model/2/model.xml
    app_fps[$v,$b]=$(fps_app "$f" "$b")
    echo "quantize: benchmark_app version $v [$b,300,300,3]: ${app_fps[$v,$b]} FPS" >&2
  done
done

run_fps() { # version source
  "$bin" run --source "$2" --model "$model" --model-version "$1" --batch auto --stats "$out/q-stats.json" >/dev/null
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["frames"]/s["seconds"])' "$out/q-stats.json"
}
median() { python3 -c 'import statistics,sys; print("%.1f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
declare -A e2e
for src in assets/vtest.avi "$clip"; do
  declare -a r1=() r2=()
  for _ in $(seq "$runs"); do
    r1+=("$(run_fps 1 "$src")")
    r2+=("$(run_fps 2 "$src")")
  done
  e2e[1,$src]=$(median "${r1[@]}")
  e2e[2,$src]=$(median "${r2[@]}")
  echo "quantize: run on $src: FP32 ${e2e[1,$src]}, INT8 ${e2e[2,$src]} frames/s" >&2
done

keeps() { # version n -> 0 when n real-time cameras lose at most 0.5% of their frames
  local args=() i
  for i in $(seq "$2"); do args+=(--source "$clip"); done
  "$bin" run "${args[@]}" --model "$model" --model-version "$1" --realtime --max-frames 400 --batch auto \
    --stats "$out/q-stats.json" >/dev/null
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); n=int(sys.argv[2]); d=s["dropped"]; print("quantize: version", sys.argv[3], n, "cameras:", d, "dropped", file=sys.stderr); sys.exit(0 if d <= 0.005 * n * 400 else 1)' \
    "$out/q-stats.json" "$2" "$1"
}
declare -A cams
for v in 1 2; do
  n=${CAMERAS_FROM:-5}
  kept=0
  while ((n <= ${CAMERAS_MAX:-16})) && keeps "$v" "$n"; do
    kept=$n
    n=$((n + 1))
  done
  cams[$v]=$kept
done

ratio() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))' "$1" "$2"; }
{
  echo "## FP32 against INT8 (bench/quantize.sh, $(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "INT8 made by \`batchline models quantize\` in ${made} s: $vtest_gate"
  echo
  echo "On the 720p25 clip's frames (never calibrated on): $clip_gate"
  echo
  echo "| | FP32 (version 1) | INT8 (version 2) | INT8 / FP32 |"
  echo "|---|---|---|---|"
  echo "| benchmark_app [1,300,300,3], frames/s | ${app_fps[1,1]} | ${app_fps[2,1]} | $(ratio "${app_fps[1,1]}" "${app_fps[2,1]}") |"
  echo "| benchmark_app [4,300,300,3], frames/s | ${app_fps[1,4]} | ${app_fps[2,4]} | $(ratio "${app_fps[1,4]}" "${app_fps[2,4]}") |"
  echo "| \`run --batch auto\` vtest.avi (768x576), frames/s, median of $runs | ${e2e[1,assets/vtest.avi]} | ${e2e[2,assets/vtest.avi]} | $(ratio "${e2e[1,assets/vtest.avi]}" "${e2e[2,assets/vtest.avi]}") |"
  echo "| \`run --batch auto\` 720p25 clip, frames/s, median of $runs | ${e2e[1,$clip]} | ${e2e[2,$clip]} | $(ratio "${e2e[1,$clip]}" "${e2e[2,$clip]}") |"
  echo "| real-time 720p25 cameras kept (<= 0.5% shed, 400 frames each) | ${cams[1]} | ${cams[2]} | |"
} | tee "$report"
