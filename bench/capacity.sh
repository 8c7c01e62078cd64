#!/usr/bin/env bash
# Capacity: how many real-time 720p25 cameras this machine keeps with every frame answered and
# nothing shed, detecting every frame against `--infer-every auto`, in the same sitting.
#
# Each camera is the 720p25 clip (vtest.avi scaled to 1280x720 at 25 fps with FFmpeg, made once),
# paced at its native rate, FRAMES frames (default 750: 30 s), shed drop-oldest, --batch auto,
# --track. For each mode N goes up from its start by its step (START_EVERY=5, STEP_EVERY=1;
# START_AUTO=8, STEP_AUTO=4) until a run sheds frames; the capacity is the largest N that shed none. For each run: frames shed, frames the tracker answered, lag p99, the
# intervals the manager chose, and the box F1 (IoU >= 0.5) of every answered frame against the
# detector's own boxes on the same frame (the clip run once through the detector, every frame,
# as fast as it goes): per camera, mean and worst. The per-frame CPU cost by stage comes from the
# largest auto run's stats (decode, pre-process, infer, post-process incl. tracking) and from
# bench/tracker.sh (the tracker alone).
#
# Usage: bench/capacity.sh (MAX=40; MODES="every auto").
# Writes out/bench/capacity/ (summary.md, runs.jsonl, capacity.svg). About 10 minutes here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
max=${MAX:-40}
frames=${FRAMES:-750}
modes=${MODES:-"every auto"}
swift build -c release --product batchline --quiet
bin=.build/release/batchline
out=out/bench/capacity
mkdir -p "$out"
: >"$out/runs.jsonl"

clip=assets/vtest-720p25.mp4
if [[ ! -s $clip ]]; then
  command -v ffmpeg >/dev/null || { echo "capacity: needs ffmpeg's command line to make $clip (apt-get install ffmpeg)" >&2; exit 1; }
  ffmpeg -loglevel error -y -i assets/vtest.avi -vf scale=1280:720,fps=25 -c:v libx264 -preset veryfast \
    -pix_fmt yuv420p -g 50 "$clip.tmp.mp4"
  mv "$clip.tmp.mp4" "$clip"
fi

# The detector's own boxes on every frame of the clip: what each answered frame is scored against.
if [[ ! -s $out/reference.jsonl ]]; then
  echo "capacity: reference detections of $clip" >&2
  "$bin" run --source "$clip" --model models/pedestrian-ssdlite --no-watch --max-frames "$frames" \
    --events "$out/reference.jsonl" >/dev/null
fi

one() { # mode n -> appends a JSON line to runs.jsonl; prints the frames shed
  local mode=$1 n=$2 args=() i
  for ((i = 0; i < n; i++)); do args+=(--source "$clip"); done
  args+=(--model models/pedestrian-ssdlite --no-watch --realtime --max-frames "$frames" --shed drop-oldest
    --batch auto --track --events "$out/events.jsonl" --stats "$out/stats-$mode-$n.json")
  [[ $mode == auto ]] && args+=(--infer-every auto)
  echo "capacity: $mode, $n cameras" >&2
  "$bin" run "${args[@]}" >/dev/null 2>"$out/log-$mode-$n.txt"
  python3 bench/capacity_score.py "$mode" "$n" "$out/stats-$mode-$n.json" "$out/events.jsonl" \
    "$out/reference.jsonl" >>"$out/runs.jsonl"
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["shed"])' "$out/runs.jsonl"
}

for mode in $modes; do
  start=${START_EVERY:-5} step=${STEP_EVERY:-1}
  [[ $mode == auto ]] && start=${START_AUTO:-8} step=${STEP_AUTO:-4}
  for ((n = start; n <= max; n += step)); do
    shed=$(one "$mode" "$n")
    echo "capacity: $mode, $n cameras: $shed shed" >&2
    [[ $shed -gt 0 ]] && break
  done
done
rm -f "$out/events.jsonl"
python3 bench/capacity_score.py --summary "$out/runs.jsonl" "$out" | tee "$out/summary.md"
