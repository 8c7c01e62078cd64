#!/usr/bin/env bash
# The main job on the bundled default: set up, build, detect pedestrians in vtest.avi,
# print the summary, and write events, stats and an annotated video to out/.
# Extra arguments go to `batchline run` (e.g. --batch 4, --realtime).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
swift build -c release --product batchline --quiet
mkdir -p out
exec .build/release/batchline run \
  --source assets/vtest.avi \
  --model models/pedestrian-ssdlite/1 \
  --events out/events.jsonl \
  --stats out/stats.json \
  --annotate out/annotated.mp4 \
  "$@"
