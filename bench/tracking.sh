#!/usr/bin/env bash
# What tracking and an inference interval cost, on the tracking ground truth video made from
# vtest.avi (bench/mot/: people walked along known paths, gt.txt):
#   1. the tracker people would use instead: Roboflow's ByteTrack and SORT on batchline's every-frame
#      detections, against batchline --track on the same frames (MOTA, IDF1, ID switches: motmetrics);
#   2. batchline --track --infer-every N for N in $INTERVALS (default 2 3 5): the same scores, IDF1
#      against every-frame tracking (the ratio), and the box F1 (IoU >= 0.5) of the boxes the tracker
#      answered on the frames the detector skipped, against what every-frame tracking reports on
#      those frames (the interval's own cost) and against the detector's own boxes there; beside it
#      the reference measured in the same runs, the detected frame's answer held unmoved on the frames
#      after it, and, against the ground truth, the skipped frames' F1 over every-frame tracking's on
#      the same frames.
# Both videos: the ground truth one (tracking scores) and vtest.avi itself (box F1 only).
# To tune the tracker without the detector: `.build/release/TrackerBench replay
# out/bench/tracking/weak-detections.jsonl N [REPORT] [acceleration=.. measurement=.. ...]` prints
# the events lines the pipeline would write from the detections recorded here.
# Usage: bench/tracking.sh (CONFIG=debug for the debug build). Writes out/bench/tracking/ (summary.txt,
# summary.json, tracking.svg).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
config=${CONFIG:-release}
intervals=${INTERVALS:-"2 3 5"}
py=.deps/venv/bin/python
swift build -c "$config" --product batchline --quiet
bin=.build/$config/batchline
mot=out/bench/mot
out=out/bench/tracking
rm -rf "$out" && mkdir -p "$out"
[[ -f $mot/gt.txt && -f $mot/mot_vtest.mp4 ]] || "$py" bench/mot/make_groundtruth.py --out "$mot"
video=$mot/mot_vtest.mp4

run() { # name, then run's flags
  local name=$1
  shift
  echo "tracking: $name" >&2
  "$bin" run --source "$video" --model models/pedestrian-ssdlite --no-watch --events "$out/$name.jsonl" \
    --stats "$out/$name.stats.json" "$@" >/dev/null
}
run detections
run weak-detections --score-threshold 0.1
run track-1 --track
for n in $intervals; do run "track-$n" --track --infer-every "$n"; done
"$py" bench/mot/reference_trackers.py "$out/detections.jsonl" --out-dir "$out" >&2
# The same detections batchline's tracker sees (down to 0.1; ByteTrack splits them high and low itself).
mkdir -p "$out/weak"
"$py" bench/mot/reference_trackers.py "$out/weak-detections.jsonl" --out-dir "$out/weak" >&2
for t in bytetrack sort; do cp "$out/weak/$t.txt" "$out/$t-weak.txt"; done
video=assets/vtest.avi
run vtest-detections
run vtest-track-1 --track
for n in $intervals; do run "vtest-track-$n" --track --infer-every "$n"; done

"$py" - "$out" "$mot/gt.txt" "$intervals" <<'PY' | tee "$out/summary.txt"
import json, subprocess, sys
out, gt, intervals = sys.argv[1], sys.argv[2], sys.argv[3].split()
py = ".deps/venv/bin/python"

def score(path, name):
    subprocess.run([py, "bench/mot/score.py", gt, path, "--name", name, "--json", f"{out}/{name}.score.json"],
                   check=True, stdout=subprocess.DEVNULL)
    return json.load(open(f"{out}/{name}.score.json"))

def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0.0

def f1_on_skipped(tracked, reference):
    """Box F1 of the tracker's answers on frames not inferred, against the detector's own boxes
    (score >= the model's threshold) on the same frames; greedy one-to-one by IoU >= 0.5."""
    tp = fp = fn = 0
    ref = {l["frame"]: [d["box"] for d in l.get("detections", [])] for l in reference}
    for l in tracked:
        if l.get("inferred", True):
            continue
        want = list(ref.get(l["frame"], []))
        for d in l.get("detections", []):
            best = max(range(len(want)), key=lambda k: iou(want[k], d["box"]), default=None)
            if best is not None and iou(want[best], d["box"]) >= 0.5:
                tp += 1
                want.pop(best)
            else:
                fp += 1
        fn += len(want)
    return (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0), tp, fp, fn

def held(tracked):
    """The reference measured in the same run: on each frame the detector skipped, the answer of the
    frame it last ran on, repeated unmoved (what a system without a tracker would show)."""
    out, last = [], []
    for l in tracked:
        if l.get("inferred", True):
            last = l.get("detections", [])
        out.append(l if l.get("inferred", True) else dict(l, detections=last))
    return out

def ground_truth(path):
    boxes = {}
    for row in open(path):
        f = row.strip().split(",")
        if len(f) > 6 and f[6] == "1":  # considered, as score.py (MOT Challenge)
            x, y, w, h = map(float, f[2:6])
            boxes.setdefault(int(f[0]) - 1, []).append({"box": [x, y, x + w, y + h]})
    return [{"frame": k, "detections": v} for k, v in sorted(boxes.items())]

truth = ground_truth(gt)

rows = {}
for name in ["bytetrack", "sort", "bytetrack-weak", "sort-weak"]:
    rows[name] = score(f"{out}/{name}.txt", name)
reference = lines(f"{out}/detections.jsonl")
for n in ["1"] + intervals:
    name = f"track-{n}"
    rows[name] = score(f"{out}/{name}.jsonl", name)
    stats = json.load(open(f"{out}/{name}.stats.json"))
    rows[name]["detector_frames"] = stats["frames"] - (stats["streams"][0].get("tracked") or 0)
    rows[name]["frames"] = stats["frames"]
    if n != "1":
        for prefix, key in (("", "gt_video"), ("vtest-", "vtest")):
            tracked = lines(f"{out}/{prefix}track-{n}.jsonl")
            every = lines(f"{out}/{prefix}track-1.jsonl")
            detected = lines(f"{out}/{prefix}detections.jsonl")
            rows[name][f"f1_vs_every_frame_{key}"] = f1_on_skipped(tracked, every)[0]
            rows[name][f"f1_vs_detector_{key}"] = f1_on_skipped(tracked, detected)[0]
            rows[name][f"held_vs_every_frame_{key}"] = f1_on_skipped(held(tracked), every)[0]
        # Against the ground truth: the skipped frames' boxes, and every-frame tracking's on the same frames.
        tracked, every = lines(f"{out}/track-{n}.jsonl"), lines(f"{out}/track-1.jsonl")
        skipped = {l["frame"] for l in tracked if not l.get("inferred", True)}
        as_skipped = [dict(l, inferred=l["frame"] not in skipped) for l in every]
        rows[name]["f1_gt_skipped"] = f1_on_skipped(tracked, truth)[0]
        rows[name]["f1_gt_every_frame_same_frames"] = f1_on_skipped(as_skipped, truth)[0]
base = rows["track-1"]["idf1"]
print(f"tracking on {len(reference)} frames of the ground-truth video (bench/mot), batchline's detector;")
print("box F1 of the frames the detector skipped, against every-frame tracking | the detector alone,")
print("on that video and on vtest.avi")
print(f"{'tracker':18}{'MOTA':>7}{'IDF1':>7}{'IDsw':>6}{'detector on':>13}{'IDF1 ratio':>11}"
      f"{'F1 GT video':>15}{'F1 vtest':>15}")
for name, r in rows.items():
    ratio = f"{r['idf1'] / base:.2f}" if name.startswith("track-") and base else ""
    f1 = lambda k: f"{r[f'f1_vs_every_frame_{k}']:.3f}|{r[f'f1_vs_detector_{k}']:.3f}" if f"f1_vs_detector_{k}" in r else ""
    frames = f"{r['detector_frames']}/{r['frames']}" if "frames" in r else "every"
    label = {"track-1": "batchline", "bytetrack": "ByteTrack >=0.5", "sort": "SORT >=0.5", "bytetrack-weak": "ByteTrack >=0.1",
             "sort-weak": "SORT >=0.1"}.get(name, f"batchline N={name[6:]}")
    print(f"{label:18}{r['mota']:7.3f}{r['idf1']:7.3f}{r['num_switches']:6d}{frames:>13}{ratio:>11}"
          f"{f1('gt_video'):>15}{f1('vtest'):>15}")
print()
print("the skipped frames' box F1 against every-frame tracking: the tracker's answer, and the answer of the")
print("frame the detector last ran on held unmoved (the reference, same runs); and against the ground truth:")
print("the skipped frames' boxes and every-frame tracking's on the same frames (F1, IoU >= 0.5)")
print(f"{'interval':10}{'tracker':>9}{'held':>7}{'vtest tracker':>15}{'vtest held':>12}{'GT: tracker':>13}{'every frame':>13}{'ratio':>7}")
for n in intervals:
    r = rows[f"track-{n}"]
    print(f"{'N=' + n:10}{r['f1_vs_every_frame_gt_video']:9.3f}{r['held_vs_every_frame_gt_video']:7.3f}"
          f"{r['f1_vs_every_frame_vtest']:15.3f}{r['held_vs_every_frame_vtest']:12.3f}{r['f1_gt_skipped']:13.3f}"
          f"{r['f1_gt_every_frame_same_frames']:13.3f}{r['f1_gt_skipped'] / r['f1_gt_every_frame_same_frames']:7.3f}")
json.dump(rows, open(f"{out}/summary.json", "w"), indent=1)

# The plot: IDF1 and the skipped frames' box F1 against the interval.
ns = [1] + [int(n) for n in intervals]
idf1 = [rows[f"track-{n}"]["idf1"] for n in ns]
f1s = [None] + [rows[f"track-{n}"]["f1_vs_every_frame_gt_video"] for n in intervals]
w, h, x0, y0 = 520, 300, 60, 250
X = lambda n: x0 + (n - 1) / max(1, max(ns) - 1) * (w - x0 - 30)
Y = lambda v: y0 - v * (y0 - 30)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
       f'<line x1="{x0}" y1="{y0}" x2="{w-20}" y2="{y0}" stroke="#444"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="20" stroke="#444"/>']
for v in (0, 0.25, 0.5, 0.75, 1):
    svg.append(f'<text x="{x0-8}" y="{Y(v)+4}" text-anchor="end">{v:.2f}</text><line x1="{x0}" y1="{Y(v)}" x2="{w-20}" y2="{Y(v)}" stroke="#ddd"/>')
for n in ns:
    svg.append(f'<text x="{X(n)}" y="{y0+16}" text-anchor="middle">{n}</text>')
svg.append(f'<text x="{(x0+w)/2}" y="{h-8}" text-anchor="middle">detector on every N-th frame</text>')
bt = max(rows["bytetrack"]["idf1"], rows["bytetrack-weak"]["idf1"])
svg.append(f'<line x1="{x0}" y1="{Y(bt)}" x2="{w-20}" y2="{Y(bt)}" stroke="#999" stroke-dasharray="4 3"/>'
           f'<text x="{w-22}" y="{Y(bt)-4}" text-anchor="end" fill="#777">ByteTrack IDF1 (every frame, best of its inputs)</text>')
for series, colour, name in ((idf1, "#1f77b4", "IDF1"), (f1s, "#d62728", "box F1, skipped frames (vs every frame)")):
    pts = [(X(n), Y(v)) for n, v in zip(ns, series) if v is not None]
    svg.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
    svg += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
    svg.append(f'<text x="{pts[-1][0]-4:.1f}" y="{pts[-1][1]-8:.1f}" text-anchor="end" fill="{colour}">{name}</text>')
svg.append("</svg>")
open(f"{out}/tracking.svg", "w").write("\n".join(svg))
PY
