#!/usr/bin/env python3
"""Scores one bench/capacity.sh run, or writes the summary of all of them.

  capacity_score.py MODE N STATS EVENTS REFERENCE   -> one JSON line on stdout
  capacity_score.py --summary RUNS.jsonl OUTDIR     -> summary (markdown) on stdout, OUTDIR/capacity.svg

Box F1 (IoU >= 0.5, greedy one-to-one) of each camera's answered boxes against the detector's own
boxes on the same frame of the clip (REFERENCE: the clip run once through the detector, every frame);
a shed frame counts its reference boxes as missed.
"""
import json
import sys


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0.0


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def score_run(mode, n, stats_path, events_path, reference_path):
    stats = json.load(open(stats_path))
    ref = {l["frame"]: [d["box"] for d in l.get("detections", [])] for l in lines(reference_path)}
    counts = {}  # stream -> [tp, fp, fn]
    for l in lines(events_path):
        c = counts.setdefault(l.get("stream", 0), [0, 0, 0])
        want = list(ref.get(l["frame"], []))
        for d in l.get("detections", []):
            best = max(range(len(want)), key=lambda k: iou(want[k], d["box"]), default=None)
            if best is not None and iou(want[best], d["box"]) >= 0.5:
                c[0] += 1
                want.pop(best)
            else:
                c[1] += 1
        c[2] += len(want)
    f1s = [f1(*c) for c in counts.values()] or [0.0]
    # The intervals the manager chose, replayed from its decisions: the last and the longest.
    interval, longest = {}, 1
    for d in stats.get("batch_decisions", []):
        why = d.get("why", {})
        if why.get("kind") in ("interval-longer", "interval-shorter"):
            interval[why["stream"]] = why["to"]
            longest = max(longest, why["to"])
    stages = stats.get("stages", {})
    per_frame = {k: round(v["mean_ms"], 2) for k, v in stages.items() if k in ("decode", "preprocess", "postprocess")}
    per_frame["infer"] = round(stats.get("infer_per_frame_ms") or 0, 2)
    tracked = sum(s.get("tracked") or 0 for s in stats["streams"])
    return {
        "mode": mode, "cameras": n, "frames": stats["frames"], "shed": stats["dropped"], "tracked": tracked,
        "lag_p99_ms": round(max(s["lag"]["p99_ms"] for s in stats["streams"]), 1),
        "f1_mean": round(sum(f1s) / len(f1s), 4), "f1_min": round(min(f1s), 4),
        "interval_final": sorted(interval.values()) or [1] * n, "interval_longest": longest,
        "sizes": stats.get("batch_sizes", {}), "per_frame_ms": per_frame,
        "interval_decisions": sum(1 for d in stats.get("batch_decisions", [])
                                  if d.get("why", {}).get("kind", "").startswith("interval-")),
    }


def plot(runs, path):
    """Frames shed (%) and box F1 by cameras, one line each per mode."""
    w, h, m = 640, 320, 50
    xs = [r["cameras"] for r in runs] or [1]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    def px(x): return m + (x - x0) / (x1 - x0) * (w - 2 * m)
    def py(y): return h - m - y * (h - 2 * m)  # y in 0..1
    colours = {"every": "#c0392b", "auto": "#2471a3"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="black"/>',
             f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">real-time 720p25 cameras</text>',
             f'<text x="{m}" y="{m - 10}">solid: frames shed (0-2% of the frames, clipped); dashed: box F1 vs every-frame detection (0-1)</text>']
    for x in sorted(set(xs)):
        parts.append(f'<text x="{px(x):.0f}" y="{h - m + 14}" text-anchor="middle">{x}</text>')
    for mode, colour in colours.items():
        rs = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["cameras"])
        if not rs:
            continue
        shed = " ".join(f'{px(r["cameras"]):.1f},{py(min(1, 50 * r["shed"] / (r["frames"] + r["shed"]))):.1f}'
                        for r in rs)
        f1s = " ".join(f'{px(r["cameras"]):.1f},{py(r["f1_mean"]):.1f}' for r in rs)
        parts.append(f'<polyline points="{shed}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<polyline points="{f1s}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{w - m - 120}" y="{m + (15 if mode == "every" else 30)}" fill="{colour}">'
                     f'{"every frame" if mode == "every" else "--infer-every auto"}</text>')
    parts.append("</svg>")
    open(path, "w").write("\n".join(parts) + "\n")


def summary(runs_path, outdir):
    runs = lines(runs_path)
    print("| mode | cameras | frames shed | tracker answered | box F1 mean (worst camera) | lag p99 ms | intervals at the end (longest) | batch sizes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        sizes = " ".join(f"{k}x{v}" for k, v in sorted(r["sizes"].items(), key=lambda kv: int(kv[0])))
        iv = r["interval_final"]
        print(f'| {r["mode"]} | {r["cameras"]} | {r["shed"]} | {r["tracked"]} | {r["f1_mean"]:.3f} ({r["f1_min"]:.3f}) | '
              f'{r["lag_p99_ms"]:.0f} | {min(iv)}-{max(iv)} ({r["interval_longest"]}) | {sizes} |')
    kept = {}
    for mode in ("every", "auto"):
        ok = [r for r in runs if r["mode"] == mode and r["shed"] == 0]
        kept[mode] = max(ok, key=lambda r: r["cameras"]) if ok else None
    print()
    for mode, r in kept.items():
        if r:
            print(f'- {mode}: keeps {r["cameras"]} cameras with nothing shed; box F1 {r["f1_mean"]:.3f} '
                  f'(worst camera {r["f1_min"]:.3f}); per frame (ms) {r["per_frame_ms"]}')
        else:
            print(f"- {mode}: sheds at every count tried")
    if kept["every"] and kept["auto"]:
        print(f'- auto keeps {kept["auto"]["cameras"] / kept["every"]["cameras"]:.2f}x the cameras of every-frame detection')
    plot(runs, f"{outdir}/capacity.svg")


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(score_run(sys.argv[1], int(sys.argv[2]), *sys.argv[3:6])))
