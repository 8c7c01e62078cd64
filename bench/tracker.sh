#!/usr/bin/env bash
# The tracker's cost per frame: Tracking's `Tracker.update` (and `predict`) on a synthetic scene of
# 1, 20 and 100 objects, 10,000 frames each, best of 3 runs, in microseconds per frame; the 1-object
# run is the reference the per-object ratio is against (1 = linear). Goal: well under 100 µs/frame
# at 20 objects. Release build of bench/TrackerBench only (no FFmpeg, no OpenVINO, no assets).
# Prints the table and writes it to out/bench/tracker/result.txt. About a minute after the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --product TrackerBench --quiet
out=out/bench/tracker
mkdir -p "$out"
{
  .build/release/TrackerBench
  echo "machine: $(nproc) cores, $(uname -m); $(swift --version 2>/dev/null | head -1)"
} | tee "$out/result.txt"
