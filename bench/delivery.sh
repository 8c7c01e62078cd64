#!/usr/bin/env bash
# The MQTT sink against Debian's mosquitto (#22), beside a reference measured in the same run: the
# paho-mqtt publisher (Python, QoS 1, 64 in flight, the same messages), what a user would write instead.
#   - throughput: COUNT events as fast as each publisher's PUBACKs allow (Batchline's go through its
#     durable outbox: an SQLite commit per event on entry, one per acknowledgement batch on exit);
#   - latency: events at RATE a second, each stamped with the time it was recorded; a paho-mqtt
#     subscriber (QoS 1) measures record-to-arrival, p50 / p99 / max;
#   - frame to arrival: `batchline serve` with 4 real-time cameras (vtest.avi looping, tracked at
#     infer_every 2, two lines and a zone each) and an MQTT sink for 60 s: each message's
#     `frame_time` (when its frame was read) to its arrival at the subscriber, beside the streams'
#     own lag (read to output, p50 / p99 from the same run): what delivery adds to the pipeline.
# Usage: bench/delivery.sh [COUNT [RATE]] (default 20000 and 500). Writes out/bench/delivery/summary.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-20000}
rate=${2:-500}
paced=$((rate * 20))  # 20 s of paced events
py=.deps/venv/bin/python
swift build -c release --product DeliveryBench --quiet
swift build -c release --product batchline --quiet
bin=.build/release/DeliveryBench
out=out/bench/delivery
rm -rf "$out" && mkdir -p "$out"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 64\nmax_queued_messages 1000000\n' "$port" >"$out/mosquitto.conf"
/usr/sbin/mosquitto -c "$out/mosquitto.conf" 2>"$out/mosquitto.log" &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
until "$py" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.1; done

measure() { # name, count, rate, publisher...
  local name=$1 n=$2 r=$3
  shift 3
  echo "delivery: $name ($n events at ${r}/s, 0: as fast as it goes)" >&2
  rm -f "$out/ready"
  "$py" bench/mqtt/latency_sub.py "$port" "bench/#" "$n" "$out/ready" >"$out/$name.sub.json" &
  local sub=$!
  until [[ -f $out/ready ]]; do sleep 0.05; done
  "$@" >"$out/$name.pub.json"
  wait $sub
  echo "  publisher: $(cat "$out/$name.pub.json")" >&2
  echo "  subscriber: $(cat "$out/$name.sub.json")" >&2
}
for rep in 1 2; do
  rm -rf "$out/outbox"
  measure "batchline-max-$rep" "$count" 0 "$bin" "$port" "$count" 0 "$out/outbox"
  measure "paho-max-$rep" "$count" 0 "$py" bench/mqtt/paho_pub.py "$port" bench/cam/events "$count" 0
done
rm -rf "$out/outbox"
measure batchline-paced "$paced" "$rate" "$bin" "$port" "$paced" "$rate" "$out/outbox"
measure paho-paced "$paced" "$rate" "$py" bench/mqtt/paho_pub.py "$port" bench/cam/events "$paced" "$rate"

# Frame to arrival through a serve with cameras.
sport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  echo "server: { host: 127.0.0.1, port: $sport, token_file: $out/serve.token }"
  echo "models: { repository: models }"
  echo "output: { events: $out/events, outbox: $out/serve-outbox, snapshots: $out/snapshots, clips: $out/clips }"
  echo "batching: { policy: realtime, sizes: [1, 2, 4, 8] }"
  echo "sinks: [ { type: mqtt, url: \"mqtt://127.0.0.1:$port\", topic: bench } ]"
  echo "streams:"
  for i in 1 2 3 4; do
    echo "  - { id: cam$i, source: assets/vtest.avi, model: pedestrian-ssdlite, loop: true, realtime: true, track: true,"
    echo "      infer_every: 2, analytics: { lines: [ { name: middle, from: [384, 150], to: [384, 570] },"
    echo "      { name: across, from: [10, 300], to: [758, 300] } ], zones: [ { name: west, points: [[10, 300], [384, 300], [384, 570], [10, 570]] } ] } }"
  done
} >"$out/serve.yaml"
echo "delivery: serve with 4 cameras for 60 s" >&2
rm -f "$out/ready"
"$py" bench/mqtt/latency_sub.py "$port" "bench/#" 1000000 "$out/ready" 60 >"$out/serve.sub.json" &
sub=$!
until [[ -f $out/ready ]]; do sleep 0.05; done
.build/release/batchline serve --config "$out/serve.yaml" 2>"$out/serve.log" &
serve=$!
trap 'kill $broker $serve 2>/dev/null || true' EXIT
wait $sub
curl -s "http://127.0.0.1:$sport/api/v1/streams" >"$out/serve.streams.json"
kill -TERM $serve && wait $serve || true
echo "  subscriber: $(cat "$out/serve.sub.json")" >&2

"$py" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
load = lambda n: json.load(open(f"{out}/{n}"))
best = lambda who: max(load(f"{who}-max-{r}.pub.json")["events_per_s"] for r in (1, 2))
summary = {
    "max_events_per_s": {"batchline": round(best("batchline")), "paho": round(best("paho")),
                         "ratio": round(best("batchline") / best("paho"), 2)},
    "paced": {who: {**load(f"{who}-paced.sub.json")} for who in ("batchline", "paho")},
}
streams = load("serve.streams.json")
lag = lambda q: round(max(s["lag_ms"][q] for s in streams), 1)
summary["serve"] = {"frame_to_arrival": load("serve.sub.json"), "lag_ms_worst_stream": {"p50": lag("p50"), "p99": lag("p99")},
                    "shed": sum(s["dropped"] for s in streams)}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
m, p = summary["max_events_per_s"], summary["paced"]
print(f"throughput (events/s, best of 2): batchline {m['batchline']}  paho-mqtt {m['paho']}  ratio {m['ratio']}")
for who in ("batchline", "paho"):
    print(f"record-to-arrival at the paced rate, {who}: p50 {p[who]['p50_ms']} ms  p99 {p[who]['p99_ms']} ms  max {p[who]['max_ms']} ms  ({p[who]['received']} received)")
s = summary["serve"]
f, l = s["frame_to_arrival"], s["lag_ms_worst_stream"]
print(f"serve, 4 cameras, 60 s: frame-to-arrival p50 {f['p50_ms']} ms  p99 {f['p99_ms']} ms  max {f['max_ms']} ms  ({f['received']} events); "
      f"the streams' own lag (read to output) p50 {l['p50']} ms  p99 {l['p99']} ms; delivery adds p50 {round(f['p50_ms'] - l['p50'], 1)} ms; {s['shed']} frames shed")
PY
