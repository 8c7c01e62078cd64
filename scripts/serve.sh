#!/usr/bin/env bash
# Set up, build, and serve the bundled default (config/serve.yaml: vtest.avi looping as two cameras
# on the pedestrian detector); prints the dashboard's address. Ctrl-C drains and ends it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
swift build -c release --product batchline --quiet
exec .build/release/batchline serve --config config/serve.yaml "$@"
