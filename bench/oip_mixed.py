#!/usr/bin/env python3
"""Inference requests from NVIDIA's tritonclient mixed with camera streams (bench/serve.sh oip).

Starts `batchline serve` with CAMERAS real-time streams (vtest.avi looping at 10 fps each), then
sends single-frame binary `infer` requests from CLIENTS threads, each waiting PERIOD_MS between
requests, for SECONDS; measures the requests' latency (p50, p99, max) and rate, and the cameras'
frames per second and frames shed over the same window, against the policy's latency SLO.
Writes out/bench/oip-mixed.json.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np
import tritonclient.http as httpclient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/batchline")
OUT = os.path.join(ROOT, "out/bench")
VIDEO = os.path.join(ROOT, "assets/vtest.avi")


def get(addr, path):
    with urllib.request.urlopen(addr + path, timeout=30) as r:
        return json.loads(r.read())


def main() -> int:
    cameras = int(os.environ.get("CAMERAS", "4"))
    clients = int(os.environ.get("CLIENTS", "2"))
    period = float(os.environ.get("PERIOD_MS", "50")) / 1000
    seconds = float(os.environ.get("SECONDS", "30"))
    slo_ms = float(os.environ.get("SLO_MS", "500"))
    os.makedirs(OUT, exist_ok=True)
    events = os.path.join(OUT, "oip-events")
    subprocess.run(["rm", "-rf", events])
    config = os.path.join(OUT, "oip-mixed.yaml")
    with open(config, "w") as f:
        f.write("models: { repository: models }\n")
        f.write(f"output: {{ events: {events} }}\n")
        f.write(f"batching: {{ policy: slo, sizes: [1, 2, 4, 8], latency_slo_ms: {slo_ms} }}\n")
        f.write("streams:\n")
        for i in range(cameras):
            f.write(f"  - {{ id: cam{i}, source: {VIDEO}, model: pedestrian-ssdlite, loop: true, realtime: true }}\n")
    log = open(os.path.join(OUT, "oip-mixed.log"), "w")
    proc = subprocess.Popen([BIN, "serve", "--config", config, "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=log, text=True)
    addr = proc.stdout.readline().split("listening on ")[1].split()[0]
    while True:
        try:
            if urllib.request.urlopen(addr + "/v2/health/ready", timeout=5).status == 200:
                break
        except Exception:
            time.sleep(0.2)
    time.sleep(5)  # the cameras settle
    ok, bgr = cv2.VideoCapture(VIDEO).read()
    frame = np.ascontiguousarray(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (300, 300)))[np.newaxis]
    latencies, errors = [], []
    lock = threading.Lock()
    stop = time.time() + seconds
    before = {s["id"]: s for s in get(addr, "/api/v1/streams")}
    t0 = time.time()

    def client():
        c = httpclient.InferenceServerClient(url=addr.replace("http://", ""))
        inp = httpclient.InferInput("image_tensor", list(frame.shape), "UINT8")
        inp.set_data_from_numpy(frame)
        while time.time() < stop:
            a = time.time()
            try:
                c.infer("pedestrian-ssdlite", [inp])
                with lock:
                    latencies.append(time.time() - a)
            except Exception as e:  # counted, not hidden
                with lock:
                    errors.append(str(e))
            time.sleep(period)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    span = time.time() - t0
    after = {s["id"]: s for s in get(addr, "/api/v1/streams")}
    batching = get(addr, "/api/v1/batching")[0]["batching"]
    proc.send_signal(15)
    proc.wait(timeout=30)
    lat = sorted(latencies)
    cams = {k: (after[k]["frames"] - before[k]["frames"]) / span for k in after}
    shed = {k: after[k]["dropped"] - before[k]["dropped"] for k in after}
    result = {
        "cameras": cameras, "clients": clients, "period_ms": period * 1000, "seconds": span, "slo_ms": slo_ms,
        "requests": len(lat), "errors": len(errors), "requests_per_s": len(lat) / span,
        "latency_ms": {"p50": statistics.median(lat) * 1000, "p99": lat[int(0.99 * (len(lat) - 1))] * 1000,
                       "max": lat[-1] * 1000},
        "camera_fps": cams, "camera_shed": shed, "batch_size_now": batching["batch_size"],
        "camera_lag_p99_ms": {k: after[k]["lag_ms"]["p99"] for k in after},
    }
    with open(os.path.join(OUT, "oip-mixed.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
