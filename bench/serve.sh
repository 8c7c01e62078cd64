#!/usr/bin/env bash
# batchline serve, measured (bench/serve_bench.py):
# throughput: the same streams (STREAMS="2 4" copies of vtest.avi, run as fast as they go, --batch
#             auto) through `run` and through `serve`, REPS=3 times each, interleaved: serve/run.
# soak:       4 real-time streams (3 looping files, 1 RTSP camera from GStreamer's server) for
#             SOAK_MINUTES=30, the camera killed for 5 s every DROP_EVERY=180 s: RSS at the end
#             against RSS at 5 minutes, frames per second, reconnects; plotted in docs/bench/serve-soak.svg.
# oip:        NVIDIA's tritonclient sending infer requests (CLIENTS=2, one every PERIOD_MS=50 each)
#             beside CAMERAS=4 real-time streams for SECONDS=30 (bench/oip_mixed.py): the requests'
#             latency against the SLO, and the cameras' rate.
# SECTIONS=throughput bench/serve.sh runs one section. Writes out/bench/serve-<sections>.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh --test-peers >/dev/null 2>&1
swift build -c release --product batchline --quiet
sections=${SECTIONS:-throughput soak oip}
if [[ $sections == *oip* ]]; then .deps/venv/bin/python bench/oip_mixed.py; fi
sections=${sections//oip/}
if [[ -n ${sections// /} ]]; then SECTIONS=$sections /usr/bin/python3 bench/serve_bench.py; fi
