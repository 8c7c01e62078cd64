#!/usr/bin/env bash
# The dashboard over MINUTES=10 minutes of live updates, in headless Chromium: every check of the
# test (Tests/TestSupport/dashboard_check.py), with the page's JS heap measured at the start and
# after MINUTES. Writes out/bench/dashboard.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh --test-peers >/dev/null 2>&1
swift build -c release --product batchline --quiet
out=out/bench/dashboard
rm -rf "$out" && mkdir -p "$out/models/pedestrian"
cp -r models/pedestrian-ssdlite/1 "$out/models/pedestrian/1"
cp -r models/pedestrian-ssdlite/1 "$out/models/pedestrian/2"
cat >"$out/serve.yaml" <<YAML
models: { repository: $out/models }
output: { events: $out/events }
batching: { policy: realtime, sizes: [1, 2, 4] }
sources: { timeout_s: 3 }
streams:
  - { id: front, source: assets/vtest.avi, model: pedestrian, loop: true, realtime: true }
  - { id: back, source: assets/vtest.avi, model: pedestrian, loop: true, realtime: true }
YAML
.build/release/batchline serve --config "$out/serve.yaml" --port 0 >"$out/stdout" 2>"$out/stderr" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$out/stdout" 2>/dev/null && break; sleep 0.2; done
addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$out/stdout")
for _ in $(seq 300); do curl -sf "$addr/v2/health/ready" >/dev/null && break; sleep 0.2; done
.deps/venv/bin/python Tests/TestSupport/dashboard_check.py "$addr" "$PWD/assets/vtest.avi" "$out/events" \
  "$(( ${MINUTES:-10} * 60 ))" | tee out/bench/dashboard.txt
