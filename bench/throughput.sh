#!/usr/bin/env bash
# End-to-end throughput of `batchline run` on vtest.avi for each mode and batch size, against
# OpenVINO's own benchmark_app (inference only, random input, same model and input shape, same
# machine) measured in the same run. Prints a Markdown table and writes it to out/bench/throughput.md.
#
#   bench/throughput.sh            # all rows (about 3 minutes on 2 cores)
#   SECONDS_PER_APP=15 bench/throughput.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh >/dev/null 2>&1
swift build -c release --product batchline --quiet
out=out/bench
mkdir -p "$out"
bin=.build/release/batchline
model=models/pedestrian-ssdlite/1
pb=$model/frozen_inference_graph.pb
app=.deps/venv/bin/benchmark_app
t=${SECONDS_PER_APP:-15}

# benchmark_app: its default for CPU is the THROUGHPUT hint with the requests it suggests.
declare -A ceiling
for b in 1 4 8; do
  fps=$("$app" -m "$pb" -shape "[$b,300,300,3]" -d CPU -t "$t" 2>&1 | sed -n 's/.*Throughput: *\([0-9.]*\) FPS.*/\1/p')
  ceiling[$b]=$fps
  echo "benchmark_app [$b,300,300,3]: $fps frames/s" >&2
done

row() { # label, shape batch, batchline args...
  local label=$1 b=$2
  shift 2
  "$bin" run --source assets/vtest.avi --model "$model" "$@" --stats "$out/stats.json" >/dev/null
  python3 - "$label" "$b" "${ceiling[$b]}" "${ceiling[1]}" "$out/stats.json" <<'PY'
import json, sys
label, b, same, one, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = json.load(open(path))
st = s["stages"]
print(f"| {label} | {s['frames']} | {s['fps']:.1f} | {s['fps']/same:.2f} (vs [{b},...] {same:.1f}) | {s['fps']/one:.2f} | "
      f"{st['decode']['mean_ms']:.2f} | {st['preprocess']['mean_ms']:.2f} | {s['infer_per_frame_ms']:.2f} | "
      f"{st['postprocess']['mean_ms']:.2f} | {s['requests_in_flight']} | {s['resources']['process_cpu_mean_pct']:.0f} |")
PY
}

{
  echo "| batchline run | frames | frames/s | ratio to benchmark_app, same shape | ratio to benchmark_app [1,...] | decode ms | preprocess ms | infer ms/frame | postprocess ms | requests | CPU % of one core |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  row "sequential, B=1" 1 --mode sequential
  row "pipelined, B=1" 1 --mode pipelined
  row "pipelined, B=1, 1 request" 1 --mode pipelined --requests 1
  row "batched, B=4" 4 --mode batched --batch 4
  row "batched, B=8" 8 --mode batched --batch 8
} | tee "$out/throughput.md"
echo "benchmark_app (inference only): [1,300,300,3] ${ceiling[1]} f/s, [4,...] ${ceiling[4]} f/s, [8,...] ${ceiling[8]} f/s" | tee -a "$out/throughput.md"
