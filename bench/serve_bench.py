#!/usr/bin/python3
"""Benchmarks of `batchline serve` (driven by bench/serve.sh; standard library only).

throughput: the same streams through `run` and through `serve` (non-looping files run as fast as
            they go, sharing one batcher), REPS times each, interleaved; frames per second from the
            first event to the last, and serve's ratio to run's.
soak:       4 real-time streams (3 looping files, 1 RTSP camera from GStreamer's server) for
            SOAK_MINUTES, the camera killed for 5 s every DROP_EVERY seconds; RSS, each stream's
            frames per second and reconnects sampled every 10 s; plotted.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/batchline")
OUT = os.path.join(ROOT, "out/bench")
VIDEO = os.path.join(ROOT, "assets/vtest.avi")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(addr, path):
    with urllib.request.urlopen(addr + path, timeout=30) as r:
        return json.loads(r.read() or b"null")


class Serve:
    def __init__(self, config, log):
        path = os.path.join(OUT, "serve-bench.yaml")
        with open(path, "w") as f:
            f.write(config)
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", path, "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            raise SystemExit(f"serve did not start: {line}")
        self.addr = line.split("listening on ")[1].split()[0]
        for _ in range(600):
            try:
                urllib.request.urlopen(self.addr + "/v2/health/ready", timeout=5)
                break
            except Exception:
                time.sleep(0.1)

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        t0 = time.time()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        return code, time.time() - t0


def config(events, streams, rotate_mb=64):
    lines = [
        "models: { repository: models }",
        f"output: {{ events: {events}, rotate_mb: {rotate_mb} }}",
        "batching: { policy: realtime, sizes: [1, 2, 4, 8, 16] }",
        "sources: { timeout_s: 3 }",
        "streams:",
    ]
    for s in streams:
        lines.append("  - " + json.dumps(s))
    return "\n".join(lines) + "\n"


def events_span(folder):
    first, last, frames = None, None, 0
    for name in os.listdir(folder):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(folder, name)) as f:
            for line in f:
                e = json.loads(line)
                if "dropped" in e:
                    continue
                frames += 1
                first = e["time"] if first is None else min(first, e["time"])
                last = e["time"] if last is None else max(last, e["time"])
    return frames, (last - first) if frames > 1 else 0


def throughput(n, reps):
    runs, serves = [], []
    for rep in range(reps):
        stats = os.path.join(OUT, "serve-bench-run.json")
        # run writes its events too, as serve does: the same work on both sides.
        args = [BIN, "run", "--model", "models/pedestrian-ssdlite/1", "--batch", "auto", "--stats", stats,
                "--events", os.path.join(OUT, "serve-bench-run.jsonl")]
        for _ in range(n):
            args += ["--source", VIDEO]
        subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        s = json.load(open(stats))
        runs.append(s["frames"] / s["seconds"])

        events = os.path.join(OUT, f"serve-bench-events-{rep}")
        subprocess.run(["rm", "-rf", events])
        streams = [{"id": f"s{i}", "source": VIDEO, "model": "models/pedestrian-ssdlite/1"} for i in range(n)]
        serve = Serve(config(events, streams), os.path.join(OUT, "serve-bench-throughput.log"))
        while not all(x["state"] == "ended" for x in get(serve.addr, "/api/v1/streams")):
            time.sleep(0.2)
        serve.stop()
        frames, span = events_span(events)
        serves.append(frames / span)
        print(f"  rep {rep + 1}: run {runs[-1]:.1f} fps, serve {serves[-1]:.1f} fps ({frames} frames)", flush=True)
    r, s = statistics.median(runs), statistics.median(serves)
    return {"streams": n, "run_fps": runs, "serve_fps": serves, "ratio": s / r}


def soak(minutes, drop_every):
    events = os.path.join(OUT, "soak-events")
    subprocess.run(["rm", "-rf", events])
    cam_port = free_port()
    camera_cmd = ["/usr/bin/python3", os.path.join(ROOT, "Tests/TestSupport/rtsp_camera.py"), VIDEO, str(cam_port)]
    camera = subprocess.Popen(camera_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    streams = [
        {"id": f"file{i}", "source": VIDEO, "model": "pedestrian-ssdlite", "loop": True, "realtime": True}
        for i in range(3)
    ]
    streams.append({"id": "camera", "source": f"rtsp://127.0.0.1:{cam_port}/cam", "model": "pedestrian-ssdlite"})
    # Rotated at 16 MiB, so that the soak rotates and the disk stays bounded too.
    serve = Serve(config(events, streams, rotate_mb=16), os.path.join(OUT, "soak.log"))
    start = time.time()
    samples, drops = [], 0
    next_drop = start + drop_every
    last_frames = {}
    while time.time() - start < minutes * 60:
        now = time.time()
        if now >= next_drop:
            camera.kill()
            camera.wait()
            time.sleep(5)
            camera = subprocess.Popen(camera_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            drops += 1
            next_drop += drop_every
        info = {s["id"]: s for s in get(serve.addr, "/api/v1/streams")}
        t = time.time() - start
        fps = {}
        for k, s in info.items():
            if k in last_frames:
                fps[k] = (s["frames"] - last_frames[k][1]) / (t - last_frames[k][0])
            last_frames[k] = (t, s["frames"])
        samples.append(
            {
                "t": t,
                "rss": serve.rss(),
                "fps": fps,
                "reconnects": info["camera"]["reconnects"],
                "dropped": {k: s["dropped"] for k, s in info.items()},
                "states": {k: s["state"] for k, s in info.items()},
            }
        )
        if len(samples) % 6 == 0:
            print(
                f"  {t / 60:5.1f} min: RSS {samples[-1]['rss'] / 2**20:.1f} MiB, "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(fps.items()))
                + f" fps, camera reconnects {samples[-1]['reconnects']} of {drops} drops",
                flush=True,
            )
        time.sleep(max(0, 10 - (time.time() - now)))
    time.sleep(12)  # the last drop's reconnect
    final = {s["id"]: s for s in get(serve.addr, "/api/v1/streams")}
    code, seconds = serve.stop()
    camera.kill()
    at5 = min(samples, key=lambda s: abs(s["t"] - 300))
    result = {
        "minutes": minutes,
        "drops": drops,
        "reconnects": final["camera"]["reconnects"],
        "rss_at_5_min": at5["rss"],
        "rss_at_end": samples[-1]["rss"],
        "rss_ratio": samples[-1]["rss"] / at5["rss"],
        "exit": code,
        "stop_seconds": seconds,
        "file_fps_median": statistics.median(
            v for s in samples if s["t"] > 60 for k, v in s["fps"].items() if k.startswith("file")
        ),
        "file_fps_min": min(v for s in samples if s["t"] > 60 for k, v in s["fps"].items() if k.startswith("file")),
        "dropped": {k: s["dropped"] for k, s in final.items()},
        "frames": {k: s["frames"] for k, s in final.items()},
    }
    json.dump({"result": result, "samples": samples}, open(os.path.join(OUT, "soak.json"), "w"))
    plot(samples, result, os.path.join(ROOT, "docs/bench/serve-soak.svg"))
    return result


def plot(samples, result, path):
    """RSS (MiB) and each stream's frames per second over the soak, as an SVG."""
    w, h, pad = 900, 520, 60
    ph = (h - 3 * pad) / 2
    t_max = max(s["t"] for s in samples) or 1
    rss = [s["rss"] / 2**20 for s in samples]
    r_lo, r_hi = 0, max(rss) * 1.15
    ids = sorted({k for s in samples for k in s["fps"]})
    f_hi = max([v for s in samples for v in s["fps"].values()] + [12]) * 1.1
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]

    def x(t):
        return pad + (w - 2 * pad) * t / t_max

    def y(v, lo, hi, top):
        return top + ph - ph * (v - lo) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">']
    out.append(f'<rect width="{w}" height="{h}" fill="white"/>')
    title = (
        f"batchline serve soak: 4 real-time streams, {result['minutes']} min, camera dropped {result['drops']}x "
        f"(reconnects {result['reconnects']}); RSS end/5 min = {result['rss_ratio']:.3f}"
    )
    out.append(f'<text x="{pad}" y="24" font-size="14">{title}</text>')
    for top, label, lo, hi in [(pad, "RSS (MiB)", r_lo, r_hi), (2 * pad + ph, "frames/s per stream", 0, f_hi)]:
        out.append(f'<rect x="{pad}" y="{top}" width="{w - 2 * pad}" height="{ph}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{pad}" y="{top - 6}">{label}</text>')
        for i in range(5):
            v = lo + (hi - lo) * i / 4
            out.append(f'<text x="{pad - 8}" y="{y(v, lo, hi, top) + 4}" text-anchor="end">{v:.0f}</text>')
    pts = " ".join(f"{x(s['t']):.1f},{y(r, r_lo, r_hi, pad):.1f}" for s, r in zip(samples, rss))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#444" stroke-width="1.5"/>')
    top = 2 * pad + ph
    for i, k in enumerate(ids):
        pts = " ".join(f"{x(s['t']):.1f},{y(s['fps'][k], 0, f_hi, top):.1f}" for s in samples if k in s["fps"])
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colours[i % 4]}" stroke-width="1.2"/>')
        out.append(f'<text x="{w - pad - 90}" y="{top + 16 + 14 * i}" fill="{colours[i % 4]}">{k}</text>')
    for m in range(0, int(t_max / 60) + 1, 5):
        out.append(f'<text x="{x(m * 60)}" y="{h - pad + 18}" text-anchor="middle">{m} min</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    os.makedirs(OUT, exist_ok=True)
    sections = os.environ.get("SECTIONS", "throughput soak").split()
    report = {}
    if "throughput" in sections:
        reps = int(os.environ.get("REPS", "3"))
        for n in [int(v) for v in os.environ.get("STREAMS", "2 4").split()]:
            print(f"throughput, {n} streams run as fast as they go:", flush=True)
            report[f"throughput-{n}"] = throughput(n, reps)
            r = report[f"throughput-{n}"]
            print(
                f"  median run {statistics.median(r['run_fps']):.1f} fps, serve {statistics.median(r['serve_fps']):.1f}"
                f" fps: serve/run = {r['ratio']:.3f}",
                flush=True,
            )
    if "soak" in sections:
        minutes = float(os.environ.get("SOAK_MINUTES", "30"))
        drop_every = float(os.environ.get("DROP_EVERY", "180"))
        print(f"soak, {minutes:g} minutes, the camera dropped every {drop_every:g} s:", flush=True)
        report["soak"] = soak(minutes, drop_every)
        print("  " + json.dumps(report["soak"]), flush=True)
    with open(os.path.join(OUT, "serve-" + "-".join(sections) + ".json"), "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
