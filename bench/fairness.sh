#!/usr/bin/env bash
# A 1000 fps stream beside two 10 fps cameras, against the cameras alone in the same run
# (bench/fairness.py): the cameras' rate and shed frames, what the fast stream got, and the bytes
# its events file takes. SECONDS_PER_PHASE=30 FAST_FPS=1000. Writes out/bench/fairness.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh --test-peers >/dev/null 2>&1
swift build -c release --product batchline --quiet
/usr/bin/python3 bench/fairness.py
