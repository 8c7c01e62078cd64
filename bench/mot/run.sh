#!/usr/bin/env bash
# Tracker benchmark on the ground-truth video: makes it (bench/mot/make_groundtruth.py) unless it is
# there, runs `batchline run` over it for every frame's detections, tracks them with the reference
# trackers (ByteTrack, SORT) and scores the detector and each tracker against gt.txt. Prints the
# summary lines and writes them to out/bench/mot/scores.txt (figures in *.json beside it).
#
#   bench/mot/run.sh                        # ~1 minute plus the batchline run
#   BATCHLINE=/path/to/batchline bench/mot/run.sh
# Needs a built batchline (swift build -c release --product batchline) and scripts/bootstrap.sh --test-peers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
py=.deps/venv/bin/python
out=out/bench/mot
bin=${BATCHLINE:-}
if [[ -z $bin ]]; then
  for b in .build/release/batchline .build/debug/batchline; do [[ -x $b ]] && { bin=$b; break; }; done
fi
[[ -n $bin && -x $bin ]] || { echo "run.sh: no batchline binary: swift build -c release --product batchline, or BATCHLINE=PATH" >&2; exit 1; }
[[ -f $out/gt.txt && -f $out/mot_vtest.mp4 ]] || "$py" bench/mot/make_groundtruth.py --out "$out"
rm -f "$out/events.jsonl"
"$bin" run --source "$out/mot_vtest.mp4" --model models/pedestrian-ssdlite --no-watch \
  --events "$out/events.jsonl" --stats "$out/run_stats.json" >/dev/null
"$py" bench/mot/reference_trackers.py "$out/events.jsonl" --out-dir "$out" >&2
{
  "$py" bench/mot/score.py "$out/gt.txt" "$out/events.jsonl" --detections --name detector --json "$out/detector.json"
  for t in bytetrack sort; do
    "$py" bench/mot/score.py "$out/gt.txt" "$out/$t.txt" --name "$t" --json "$out/$t.json"
  done
} | tee "$out/scores.txt"
