#!/usr/bin/python3
"""A fast stream beside real-time cameras (bench/fairness.sh; standard library only).

Two 10 fps cameras (vtest.avi looping, paced) run alone for SECONDS (the reference, same run), then
a stream that offers FAST_FPS frames a second (a small test pattern, looping, paced) joins them for
SECONDS. Reports each camera's frames per second and shed frames in both phases and their ratio,
what the fast stream got, and the bytes its events file took per second. Writes
out/bench/fairness.json.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_bench import OUT, ROOT, VIDEO, Serve, get  # noqa: E402

SECONDS = float(os.environ.get("SECONDS_PER_PHASE", "30"))
FAST_FPS = int(os.environ.get("FAST_FPS", "1000"))


def sample(addr):
    return {s["id"]: s for s in get(addr, "/api/v1/streams")}


def phase(addr, ids, seconds):
    before = sample(addr)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        left = seconds - (time.monotonic() - t0)
        print(f"\r  {left:5.0f} s left", end="", file=sys.stderr, flush=True)
        time.sleep(min(1, max(0, left)))
    print(file=sys.stderr)
    after = sample(addr)
    elapsed = time.monotonic() - t0
    return {
        i: {
            "fps": (after[i]["frames"] - before.get(i, {"frames": 0})["frames"]) / elapsed,
            "shed": after[i]["dropped"] - before.get(i, {"dropped": 0})["dropped"],
        }
        for i in ids
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="fairness-")
    fast = os.path.join(work, "fast.avi")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x120:rate={FAST_FPS}", "-t", "5",
         "-c:v", "mpeg4", "-q:v", "8", fast], check=True)
    events = os.path.join(work, "events")
    config = f"""server: {{ host: 127.0.0.1, port: 0 }}
models: {{ repository: {ROOT}/models }}
output: {{ events: {events} }}
batching: {{ policy: realtime, sizes: [1, 2, 4, 8] }}
sources: {{ allow_folders: [{work}] }}
streams:
  - {{ id: cam1, source: {VIDEO}, model: pedestrian-ssdlite, loop: true, realtime: true }}
  - {{ id: cam2, source: {VIDEO}, model: pedestrian-ssdlite, loop: true, realtime: true }}
"""
    serve = Serve(config, os.path.join(OUT, "fairness-serve.log"))
    try:
        print(f"cameras alone for {SECONDS:.0f} s", file=sys.stderr)
        time.sleep(5)
        alone = phase(serve.addr, ["cam1", "cam2"], SECONDS)
        body = json.dumps({"id": "fast", "source": fast, "model": "pedestrian-ssdlite", "loop": True,
                           "realtime": True}).encode()
        req = urllib.request.Request(serve.addr + "/api/v1/streams", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        time.sleep(3)
        size0 = os.path.getsize(os.path.join(events, "fast.jsonl"))
        print(f"with a {FAST_FPS} fps stream for {SECONDS:.0f} s", file=sys.stderr)
        beside = phase(serve.addr, ["cam1", "cam2", "fast"], SECONDS)
        size1 = os.path.getsize(os.path.join(events, "fast.jsonl"))
    finally:
        serve.stop()
    result = {"seconds": SECONDS, "fast_fps_offered": FAST_FPS, "alone": alone, "beside": beside,
              "fast_events_bytes_per_s": (size1 - size0) / SECONDS}
    print(f"{'stream':8} {'alone fps':>10} {'beside fps':>11} {'ratio':>6} {'shed alone':>11} {'shed beside':>12}")
    for cam in ["cam1", "cam2"]:
        a, b = alone[cam], beside[cam]
        print(f"{cam:8} {a['fps']:10.2f} {b['fps']:11.2f} {b['fps'] / max(a['fps'], 1e-9):6.2f} "
              f"{a['shed']:11d} {b['shed']:12d}")
    f = beside["fast"]
    print(f"{'fast':8} {'-':>10} {f['fps']:11.2f} {'-':>6} {'-':>11} {f['shed']:12d}")
    print(f"fast stream's events file: {result['fast_events_bytes_per_s'] / 1024:.1f} KiB/s")
    with open(os.path.join(OUT, "fairness.json"), "w") as out:
        json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
