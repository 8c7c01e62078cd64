#!/usr/bin/env python3
"""Scores a tracker's output against MOT ground truth with py-motmetrics (CLEAR MOT and identity).

    score.py GT.txt RESULT [--iou 0.5] [--json FILE|-] [--name NAME]
    score.py GT.txt EVENTS.jsonl --detections     # the detector alone: precision, recall, MOTP
    score.py --check-motmetrics                   # the harness on motmetrics' own MOT15 data

RESULT is either
  (a) MOT text: ``frame,id,x,y,w,h[,...]`` (frame from 1, box top-left 1-based as in MOT Challenge);
  (b) Batchline events JSONL (``batchline run --events``, a service's ``<events>/<id>.jsonl``): one
      line per frame, ``{"stream":0,"frame":N,"pts":..,"detections":[{"label":"person",
      "score":0.9,"box":[x1,y1,x2,y2],"track":7}, ...]}``, frames from 0 and boxes in 0-based
      pixels (both shifted here to MOT's 1-based frames and coordinates). A detection with a
      ``track`` is a tracked object; one without is not scored (a tentative or untracked box)
      unless --detections. Shed frames (``"dropped"``, through ``"through"``) have no boxes, so their
      people count as misses.
The format is told by the file's first character (``{`` is events) or by --format.

Ground truth lines whose 7th field (``consider``) is 0 are ignored as in the MOT Challenge: a
result box that matches one (IoU >= the threshold, one-to-one, Hungarian over all of the frame's
ground truth) is dropped before scoring, so it is neither a hit nor a false positive, and the
ignored person is no miss. bench/mot/make_groundtruth.py marks people under 25% visible so.

Matching: IoU >= --iou (default 0.5). Frames scored: 1 to the last frame in either file (a frame
with neither counts only in ``num_frames``). Reported: MOTA, IDF1 (IDP, IDR), ID switches,
fragmentations, MOTP (motmetrics' distance, mean 1 - IoU of matches, and ``mean_iou``), precision,
recall, false positives, misses, mostly tracked / partially / mostly lost, frames.

--detections scores every box as its own one-frame track: precision, recall, MOTP and the counts
are the detector's frame-wise figures; identity metrics mean nothing there and are left out.
"""
import argparse
import json
import os
import sys

import numpy as np

# motmetrics 1.4 calls np.asfarray, which NumPy 2 removed.
if not hasattr(np, "asfarray"):
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
import motmetrics as mm  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from events import iter_events

METRICS = ["num_frames", "mota", "motp", "idf1", "idp", "idr", "num_switches", "num_fragmentations",
           "precision", "recall", "num_false_positives", "num_misses", "num_objects",
           "num_predictions", "num_matches", "num_unique_objects", "mostly_tracked",
           "partially_tracked", "mostly_lost"]
DETECTION_METRICS = ["num_frames", "motp", "precision", "recall", "num_false_positives",
                     "num_misses", "num_objects", "num_predictions"]

# What motmetrics' own test (tests/test_metrics.py, test_motchallenge_files) expects on its bundled
# MOT15 sequences, IoU 0.5.
MOTMETRICS_EXPECTED = {
    "TUD-Campus": {"idf1": 0.557659, "idp": 0.729730, "idr": 0.451253, "recall": 0.582173,
                   "precision": 0.941441, "num_unique_objects": 8, "mostly_tracked": 1,
                   "partially_tracked": 6, "mostly_lost": 1, "num_false_positives": 13,
                   "num_misses": 150, "num_switches": 7, "num_fragmentations": 7,
                   "mota": 0.526462, "motp": 0.277201},
    "TUD-Stadtmitte": {"idf1": 0.644619, "idp": 0.819760, "idr": 0.531142, "recall": 0.608997,
                       "precision": 0.939920, "num_unique_objects": 10, "mostly_tracked": 5,
                       "partially_tracked": 4, "mostly_lost": 1, "num_false_positives": 45,
                       "num_misses": 452, "num_switches": 7, "num_fragmentations": 6,
                       "mota": 0.564014, "motp": 0.345904},
}


def read_mot(path, with_consider=False):
    """MOT text to {frame: [(id, x, y, w, h, consider)]}; consider is the 7th field == 0 → False
    (only read for ground truth)."""
    frames = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            v = line.replace("\t", ",").replace(" ", ",").split(",")
            v = [x for x in v if x != ""]
            if len(v) < 6:
                raise SystemExit(f"score: error: {path}:{n}: not MOT (frame,id,x,y,w,h,...): {line[:80]}")
            consider = not (with_consider and len(v) > 6 and float(v[6]) == 0)
            frames.setdefault(int(float(v[0])), []).append(
                (int(float(v[1])), float(v[2]), float(v[3]), float(v[4]), float(v[5]), consider))
    return frames


def read_events(path, stream=None, label="person", detections=False):
    """Batchline events JSONL to {frame: [(id, x, y, w, h, True)]} in MOT's 1-based frames and
    coordinates, and a dict of counts (lines, shed frames, boxes with and without a track).

    Tracked boxes (with ``track``) keep their track as id; with detections=True every box is
    scored, each under an id of its own."""
    frames, info = {}, {"lines": 0, "shed_frames": 0, "tracked_boxes": 0, "untracked_boxes": 0, "last_frame": 0}
    next_id = 1
    for ev in iter_events(path, "score", stream):
        info["lines"] += 1
        frame = int(ev["frame"]) + 1
        if "dropped" in ev:
            last = int(ev.get("through", ev["frame"])) + 1
            info["shed_frames"] += last - frame + 1
            info["last_frame"] = max(info["last_frame"], last)
            continue
        info["last_frame"] = max(info["last_frame"], frame)
        boxes = frames.setdefault(frame, [])
        for d in ev.get("detections", []):
            if label and d.get("label") != label:
                continue
            x1, y1, x2, y2 = (float(v) for v in d["box"])
            if "track" in d and d["track"] is not None:
                info["tracked_boxes"] += 1
                if not detections:
                    boxes.append((int(d["track"]), x1 + 1, y1 + 1, x2 - x1, y2 - y1, True))
                    continue
            else:
                info["untracked_boxes"] += 1
            if detections:
                boxes.append((next_id, x1 + 1, y1 + 1, x2 - x1, y2 - y1, True))
                next_id += 1
    return frames, info


def iou(a, b):
    """IoU of every box in a against every box in b, both (N, 4) as x, y, w, h."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a, b = np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[None]
    ix = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iy = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ix * iy
    return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter)


def drop_matched_to_ignored(gt, hyp, threshold):
    """Removes result boxes that the one-to-one matching over all of a frame's ground truth pairs
    with an ignored person (the MOT Challenge's preprocessing). Returns (kept boxes, dropped count)."""
    if not hyp or all(g[5] for g in gt):
        return hyp, 0
    m = iou([g[1:5] for g in gt], [h[1:5] for h in hyp])
    cost = np.where(m >= threshold, 1 - m, 1e6)
    drop = set()
    for r, c in zip(*linear_sum_assignment(cost)):
        if m[r, c] >= threshold and not gt[r][5]:
            drop.add(c)
    return [h for k, h in enumerate(hyp) if k not in drop], len(drop)


def evaluate(gt, hyp, threshold=0.5, frames=None):
    """Feeds a motmetrics accumulator frame by frame (1 to the last frame of either, or `frames`).
    Returns (accumulator, counts of ignored ground truth and of dropped result boxes)."""
    acc = mm.MOTAccumulator(auto_id=False)
    last = frames or max([0, *gt.keys(), *hyp.keys()])
    ignored = dropped = 0
    for f in range(1, last + 1):
        g, h = gt.get(f, []), hyp.get(f, [])
        h, d = drop_matched_to_ignored(g, h, threshold)
        dropped += d
        ignored += sum(1 for x in g if not x[5])
        g = [x for x in g if x[5]]
        dist = mm.distances.iou_matrix([x[1:5] for x in g], [x[1:5] for x in h], max_iou=1 - threshold)
        acc.update([x[0] for x in g], [x[0] for x in h], dist, frameid=f)
    return acc, {"gt_ignored": ignored, "result_boxes_dropped_on_ignored": dropped}


def summarize(acc, metrics):
    """The chosen motmetrics figures as a plain dict (ints as ints), plus mean_iou = 1 - MOTP and
    true_positives (ground truth boxes matched, under whatever id)."""
    row = mm.metrics.create().compute(acc, metrics=metrics, name="x", return_dataframe=False)
    out = {}
    for k in metrics:
        v = row[k]
        out[k] = int(v) if k.startswith("num_") or k in ("mostly_tracked", "partially_tracked", "mostly_lost") else float(v)
    if "motp" in out:
        out["mean_iou"] = 1 - out["motp"] if out["motp"] == out["motp"] else float("nan")
    if "num_objects" in out and "num_misses" in out:
        # Ground truth boxes found (motmetrics' num_matches leaves out the ones that switched id).
        out["true_positives"] = out["num_objects"] - out["num_misses"]
    return out


def summary_line(name, s, detections):
    if detections:
        return (f"{name}: detector precision {s['precision']:.3f} recall {s['recall']:.3f} "
                f"mean IoU {s['mean_iou']:.3f} FP {s['num_false_positives']} FN {s['num_misses']} "
                f"found {s['true_positives']}/{s['num_objects']} frames {s['num_frames']}")
    return (f"{name}: MOTA {s['mota']:.3f} IDF1 {s['idf1']:.3f} IDsw {s['num_switches']} "
            f"MOTP {s['motp']:.3f} (mean IoU {s['mean_iou']:.3f}) precision {s['precision']:.3f} "
            f"recall {s['recall']:.3f} FP {s['num_false_positives']} FN {s['num_misses']} "
            f"frag {s['num_fragmentations']} MT/PT/ML {s['mostly_tracked']}/{s['partially_tracked']}/"
            f"{s['mostly_lost']} frames {s['num_frames']}")


def check_motmetrics():
    """Scores motmetrics' bundled MOT15 TUD sequences through this harness's readers and loop and
    compares with the values motmetrics' own tests expect (tolerance 1e-3). Returns 0 when all match."""
    data = os.path.join(os.path.dirname(mm.__file__), "data")
    bad = 0
    for seq, want in MOTMETRICS_EXPECTED.items():
        gt = read_mot(os.path.join(data, seq, "gt.txt"), with_consider=True)
        hyp = read_mot(os.path.join(data, seq, "test.txt"))
        acc, _ = evaluate(gt, hyp, 0.5)
        got = summarize(acc, list(want))
        wrong = {k: (got[k], v) for k, v in want.items() if abs(got[k] - v) > 1e-3}
        print(f"{seq}: " + ("matches motmetrics' expected values" if not wrong else f"MISMATCH {wrong}"))
        print("  " + summary_line(seq, summarize(acc, METRICS), False))
        bad += bool(wrong)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("gt", nargs="?", help="ground truth, MOT format (gt.txt)")
    ap.add_argument("result", nargs="?", help="tracker output: MOT text or Batchline events JSONL")
    ap.add_argument("--format", choices=["auto", "mot", "events"], default="auto")
    ap.add_argument("--iou", type=float, default=0.5, help="IoU needed for a match (default 0.5)")
    ap.add_argument("--detections", action="store_true",
                    help="score every box of an events file as a detection (detector precision/recall)")
    ap.add_argument("--stream", default=None, help="events: only this stream (number or name)")
    ap.add_argument("--label", default="person", help="events: only this label ('' for all)")
    ap.add_argument("--frames", type=int, default=None, help="score frames 1..N (default: last frame seen)")
    ap.add_argument("--name", default=None, help="name in the summary line (default: the result file's)")
    ap.add_argument("--json", metavar="FILE", default=None, help="write the figures as JSON ('-': stdout)")
    ap.add_argument("--check-motmetrics", action="store_true",
                    help="score motmetrics' bundled MOT15 data and compare with its tests' values")
    args = ap.parse_args()
    if args.check_motmetrics:
        return check_motmetrics()
    if not args.gt or not args.result:
        ap.error("GT and RESULT are needed")
    for p in (args.gt, args.result):
        if not os.path.isfile(p):
            raise SystemExit(f"score: error: {p}: no such file")

    fmt = args.format
    if fmt == "auto":
        with open(args.result) as f:
            head = f.read(4096).lstrip()
        fmt = "events" if head.startswith("{") else "mot"
    if args.detections and fmt != "events":
        raise SystemExit("score: error: --detections reads an events file")
    gt = read_mot(args.gt, with_consider=True)
    info = {}
    if fmt == "events":
        hyp, info = read_events(args.result, args.stream, args.label, args.detections)
        if not args.detections and info["tracked_boxes"] == 0:
            raise SystemExit(f"score: error: {args.result}: no tracked boxes (no \"track\" field); "
                             "score the detector with --detections, or track with bench/mot/reference_trackers.py")
    else:
        hyp = read_mot(args.result)

    acc, ign = evaluate(gt, hyp, args.iou, args.frames)
    s = summarize(acc, DETECTION_METRICS if args.detections else METRICS)
    name = args.name or os.path.basename(args.result)
    result = {"name": name, "gt": args.gt, "result": args.result, "format": fmt,
              "mode": "detections" if args.detections else "tracks", "iou_threshold": args.iou,
              **s, **ign, **({"events": info} if info else {})}
    line = summary_line(name, s, args.detections)
    if args.json == "-":
        print(line, file=sys.stderr)
        print(json.dumps(result))
    else:
        print(line)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
