"""Subscribes to TOPIC (QoS 1) on 127.0.0.1:PORT and waits for COUNT messages (or SECONDS, when
given) whose JSON has a `time` (the wall-clock seconds the publisher recorded it), or a
`frame_time` (a serve's event: when its frame was read); prints one JSON line with the latency
percentiles (ms) from that time to arrival, and the arrival rate. Touches READY once subscribed.

usage: latency_sub.py PORT TOPIC COUNT READY [SECONDS]
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, topic, count, ready = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 600
latencies, first, done = [], [None], threading.Event()


def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe(topic, qos=1)


def on_subscribe(client, userdata, mid, reason_codes, properties):
    open(ready, "w").close()


def on_message(client, userdata, message):
    if not message.topic.endswith("/events"):
        return
    now = time.time()
    first[0] = first[0] or now
    body = json.loads(message.payload)
    latencies.append((now - body.get("frame_time", body.get("time"))) * 1000)
    if len(latencies) >= count:
        done.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{port}", protocol=mqtt.MQTTv311)
client.max_inflight_messages_set(64)
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port)
client.loop_start()
done.wait(seconds)
client.loop_stop()
latencies.sort()
n = len(latencies)
pct = lambda q: round(latencies[min(n - 1, int(q * n))], 2) if n else None
span = time.time() - first[0] if first[0] else 0
print(json.dumps({"received": n, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)}))
