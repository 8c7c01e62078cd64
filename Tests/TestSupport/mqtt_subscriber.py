"""A paho-mqtt subscriber with a persistent session (a fixed client id, clean_session False, QoS 1):
writes every message it receives under TOPIC/# as one JSON line to OUT, flushed at once, and
reconnects on its own when the broker goes away. Runs until killed.

usage: mqtt_subscriber.py PORT TOPIC OUT CLIENT_ID
"""
import json
import sys

import paho.mqtt.client as mqtt

port, topic, out, client_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
log = open(out, "a", buffering=1)


def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe(topic + "/#", qos=1)
    print("connected", reason_code, flush=True)


def on_message(client, userdata, message):
    log.write(json.dumps({"topic": message.topic, "retain": bool(message.retain),
                          "payload": message.payload.decode("utf-8", "replace")}) + "\n")


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                     protocol=mqtt.MQTTv311)
client.on_connect = on_connect
client.on_message = on_message
client.reconnect_delay_set(min_delay=0.2, max_delay=1)
client.connect("127.0.0.1", port, keepalive=10)
client.loop_forever(retry_first_connection=True)
