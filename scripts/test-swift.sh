#!/usr/bin/env bash
# The Swift tests (scripts/test.sh runs them after the build), in two lanes at once:
#   processes: the suites that start other processes (serve, run, cameras, Prometheus, Chromium,
#              schemathesis) and mostly wait on them: server deadlines, reconnects, page loads;
#   in-process: everything else (pipelines on the real model, the controller, the simulator).
# On 2 cores one lane alone leaves a core idle most of the time (the suites wait on other
# processes); each lane runs its suites one at a time, as before. The processes lane runs at a
# lower priority (nice 5): the in-process lane holds the real-time runs that count dropped frames,
# the processes lane only waits that bound a hang. Each lane is a separate process, so the memory
# tests read their own process's RSS undisturbed.
#
#   scripts/test-swift.sh [--serial | FILTER]
#
# --serial runs every suite in one lane, one at a time (as `swift test --no-parallel`); FILTER (a
# regular expression on test ids, `Target.Suite/test()`) runs only the tests it matches, in one
# lane. Output: each lane's lines, prefixed, as they come; the exit status is non-zero when either
# lane failed. Expects a build with tests (`swift build --build-tests`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(swift build --show-bin-path)/BatchlinePackageTests.xctest
[[ -x $bin ]] || {
  echo "test-swift: no test build at $bin (swift build --build-tests)" >&2
  exit 1
}
export NO_COLOR=1
tests=("$bin" --testing-library swift-testing --no-parallel)
case ${1:-} in
  --serial) exec "${tests[@]}" ;;
  ?*) exec "${tests[@]}" --filter "$1" ;;
esac

# Suites that start processes: keep this list in step with Tests/ (a suite missing here only
# runs in the other lane, slower; it is never skipped). `batchline run`'s suites (CLITests,
# AnalyticsRunTests) start processes too but keep a core busy for their whole length: they run in
# the in-process lane, which the fleet's and the browsers' suites would otherwise leave short.
processes='ServerLimitsTests|DashboardTests|ReconnectTests|CameraTests|OpenAPITests|MetricsTests|DurabilityTests'
processes+='|FairnessTests|InferenceProtocolTests|DeploymentTests|EventFeedTests|ServeTests|ControlRoutesTests'
processes+='|CheckConfigTests|ModelsCLITests|SinkDeliveryTests|FleetNodesTests|FleetDeploymentTests'
processes="\.($processes)/"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# lane NAME NICE ARGS...: runs the tests with ARGS, each line prefixed; its status in $logs/NAME.
lane() {
  local name=$1 niceness=$2
  shift 2
  set +e
  nice -n "$niceness" "${tests[@]}" "$@" 2>&1 | sed -u "s/^/[$name] /"
  echo "${PIPESTATUS[0]}" >"$logs/$name"
}
start=$SECONDS
lane processes 5 --filter "$processes" &
lane in-process 0 --skip "$processes" &
wait
status=0
for name in processes in-process; do
  code=$(cat "$logs/$name" 2>/dev/null || echo 1)
  echo "test-swift: $name lane: exit $code"
  ((code == 0)) || status=1
done
echo "test-swift: both lanes in $((SECONDS - start)) s"
exit $status
