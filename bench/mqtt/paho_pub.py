"""The reference publisher: paho-mqtt (Python), QoS 1, at most 64 in flight (as Batchline's sink),
COUNT messages of the same JSON shape at RATE a second (0: as fast as it goes) to TOPIC on
127.0.0.1:PORT; waits for every PUBACK; prints one JSON line like DeliveryBench's.

usage: paho_pub.py PORT TOPIC COUNT RATE
"""
import json
import sys
import time

import paho.mqtt.client as mqtt

port, topic, count, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-paho-{port}", protocol=mqtt.MQTTv311)
client.max_inflight_messages_set(64)
client.max_queued_messages_set(0)
client.connect("127.0.0.1", port)
client.loop_start()
start = time.time()
infos = []
for i in range(count):
    if rate > 0:
        wait = start + i / rate - time.time()
        if wait > 0:
            time.sleep(wait)
    payload = {"direction": "in", "id": f"paho-{i}", "line": "door", "stream": "cam", "time": time.time(),
               "track": i, "type": "line_crossed"}
    infos.append(client.publish(topic, json.dumps(payload, sort_keys=True, separators=(",", ":")), qos=1))
for info in infos:
    info.wait_for_publish()
seconds = time.time() - start
client.loop_stop()
print(json.dumps({"events": count, "seconds": seconds, "events_per_s": count / seconds}))
