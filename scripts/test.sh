#!/usr/bin/env bash
# Set up, check formatting, build, and run every test on the real model and video; then the
# container tests (scripts/test-deploy.sh: the image built, run and played as a Kubernetes pod).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh --test-peers --containers
echo "== swift format lint"
swift format lint --strict --recursive Package.swift Sources Tests
echo "== build"
swift build --build-tests --quiet
echo "== test"
# Two lanes at once, each one suite at a time (scripts/test-swift.sh says why): the suites that
# start processes and wait on them beside those that run in this process.
scripts/test-swift.sh
echo "== containers (the image, podman run, podman kube play)"
scripts/test-deploy.sh
