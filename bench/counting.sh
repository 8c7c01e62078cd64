#!/usr/bin/env bash
# Line counting against the ground truth (#22): four lines over the tracking ground-truth video of
# bench/mot (people walked along known paths), true crossings from gt.txt, against
#   - batchline run --line on every frame and at --infer-every 3;
#   - supervision's LineZone on Roboflow's ByteTrack tracks of batchline's own detections (>= 0.1,
#     the ByteTrack input that tracked best in bench/tracking.sh; and >= 0.5), the Python stack users
#     would write instead; same anchor (bottom centre), same run;
#   - batchline's tracker and lines on the ground truth's own boxes (a perfect detector, through
#     TrackerBench replay), beside ByteTrack + LineZone on the same boxes: the counting's own error,
#     apart from the detector's.
# Error: the sum over lines and directions of |counted - true|, and as a % of the true crossings.
# Usage: bench/counting.sh. Writes out/bench/counting/ (summary.txt, summary.json). About 2 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=.deps/venv/bin/python
swift build -c release --product batchline --quiet
swift build -c release --product TrackerBench --quiet
bin=.build/release/batchline
mot=out/bench/mot
out=out/bench/counting
rm -rf "$out" && mkdir -p "$out"
[[ -f $mot/gt.txt && -f $mot/mot_vtest.mp4 ]] || "$py" bench/mot/make_groundtruth.py --out "$mot"
video=$mot/mot_vtest.mp4
cat >"$out/lines.json" <<'JSON'
{"v200": [[200, 0], [200, 576]], "v384": [[384, 0], [384, 576]], "v600": [[600, 0], [600, 576]],
 "h400": [[0, 400], [768, 400]]}
JSON
lines=(--line v200=200,0,200,576 --line v384=384,0,384,576 --line v600=600,0,600,576 --line h400=0,400,768,400)
run() { # name, then run's flags
  echo "counting: $1" >&2
  local name=$1
  shift
  "$bin" run --source "$video" --model models/pedestrian-ssdlite --no-watch --events "$out/$name.jsonl" "$@" >/dev/null
}
run every-frame --track "${lines[@]}"
run interval-3 --track --infer-every 3 "${lines[@]}"
run detections --score-threshold 0.1
run detections-05
mkdir -p "$out/weak" "$out/strong"
"$py" bench/mot/reference_trackers.py "$out/detections.jsonl" --out-dir "$out/weak" >&2
"$py" bench/mot/reference_trackers.py "$out/detections-05.jsonl" --out-dir "$out/strong" >&2
# A perfect detector: the ground truth's boxes of every frame, through the same tracker and lines.
frames=$(wc -l <"$out/every-frame.jsonl")
fps=$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$video")
"$py" bench/mot/gt_detections.py "$mot/gt.txt" "$fps" "$frames" >"$out/gt-detections.jsonl"
for every in 1 3; do
  .build/release/TrackerBench replay "$out/gt-detections.jsonl" $every 0.5 \
    line:v200=200,0,200,576 line:v384=384,0,384,576 line:v600=600,0,600,576 line:h400=0,400,768,400 \
    >"$out/oracle-$every.jsonl"
done
mkdir -p "$out/truth-boxes"
"$py" bench/mot/reference_trackers.py "$out/gt-detections.jsonl" --out-dir "$out/truth-boxes" >&2
"$py" bench/mot/counting.py "$mot/gt.txt" "$out/lines.json" \
  --batchline "batchline --track=$out/every-frame.jsonl" \
  --batchline "batchline --infer-every 3=$out/interval-3.jsonl" \
  --mot "ByteTrack >=0.1 + LineZone=$out/weak/bytetrack.txt" \
  --mot "ByteTrack >=0.5 + LineZone=$out/strong/bytetrack.txt" \
  --batchline "truth's boxes: batchline --track=$out/oracle-1.jsonl" \
  --batchline "truth's boxes: batchline --infer-every 3=$out/oracle-3.jsonl" \
  --mot "truth's boxes: ByteTrack + LineZone=$out/truth-boxes/bytetrack.txt" \
  --json "$out/summary.json" | tee "$out/summary.txt"
