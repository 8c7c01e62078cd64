#!/usr/bin/env python3
"""Tracks Batchline's every-frame detections with Roboflow's `trackers` (ByteTrack, SORT): the
tracker people would otherwise put behind a detector, as a reference for Batchline's own.

    reference_trackers.py EVENTS.jsonl [--tracker bytetrack --tracker sort] [--out-dir DIR]
                          [--fps F] [--stream S] [--label person] [--set NAME=VALUE ...] [--jsonl]

Reads a Batchline events file (``batchline run --events``: one JSON line per frame, frames from 0,
``detections`` with ``label``, ``score`` and ``box`` [x1, y1, x2, y2] in pixels; any ``track`` field
is ignored), feeds each frame's boxes of --label as ``supervision.Detections`` (xyxy, confidence,
class_id) to a fresh tracker in frame order, one update per frame (an empty one for a frame that
was shed or has no line, so the tracker's clock runs on), and writes ``DIR/<tracker>.txt`` in MOT
format (``frame,id,x,y,w,h,score,-1,-1,-1``; frame from 1, box top-left 1-based) for
bench/mot/score.py. Only confirmed tracks are written: in `trackers` a tentative track has id -1,
a confirmed one an id >= 0 (written as id + 1, MOT ids being from 1). With --jsonl it also writes
``DIR/<tracker>.jsonl``: the events again, each written box carrying its ``track``.

The trackers run with the package's defaults except ``frame_rate``, set to the video's rate
(--fps, or the events' ``pts`` step; the package scales its lost-track buffer, given in 30 fps
frames, by it). --set overrides any constructor argument, e.g. ``--set lost_track_buffer=60``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker, SORTTracker

from events import iter_events

TRACKERS = {"bytetrack": ByteTrackTracker, "sort": SORTTracker}


def read_events(path, stream=None, label="person"):
    """The events file as (frames, fps guess): frames[i] = (xyxy (N, 4), scores (N,)) for frame i
    from 0 to the last (empty for frames without a line or shed); fps from the median pts step."""
    by_frame, pts = {}, []
    for ev in iter_events(path, "reference_trackers", stream):
        if "dropped" in ev:
            continue
        frame = int(ev["frame"])
        if "pts" in ev:
            pts.append((frame, float(ev["pts"])))
        dets = [d for d in ev.get("detections", []) if not label or d.get("label") == label]
        by_frame[frame] = (np.array([d["box"] for d in dets], dtype=float).reshape(-1, 4),
                           np.array([d.get("score", 1.0) for d in dets], dtype=float))
    last = max(by_frame, default=-1)
    empty = (np.zeros((0, 4)), np.zeros(0))
    frames = [by_frame.get(i, empty) for i in range(last + 1)]
    fps = None
    steps = [(p1 - p0) / (f1 - f0) for (f0, p0), (f1, p1) in zip(pts, pts[1:]) if f1 > f0 and p1 > p0]
    if steps:
        fps = 1.0 / float(np.median(steps))
    return frames, fps


def parse_value(text):
    """A --set value: int, float, true/false, or left as text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def run_tracker(name, frames, fps, overrides):
    """Runs one tracker over the frames. Returns MOT rows (frame, id, x1, y1, x2, y2, score) with
    frame from 0 and the tracker's own id (>= 0), and the seconds spent in update()."""
    tracker = TRACKERS[name](frame_rate=fps, **overrides)
    rows, spent = [], 0.0
    for i, (xyxy, scores) in enumerate(frames):
        dets = sv.Detections(xyxy=xyxy.astype(np.float32), confidence=scores.astype(np.float32),
                             class_id=np.zeros(len(xyxy), dtype=int))
        t0 = time.perf_counter()
        out = tracker.update(dets)
        spent += time.perf_counter() - t0
        if out.tracker_id is None:
            continue
        conf = out.confidence if out.confidence is not None else np.ones(len(out))
        for box, tid, c in zip(out.xyxy, out.tracker_id, conf):
            if tid >= 0:
                rows.append((i, int(tid), *(float(v) for v in box), float(c)))
    return rows, spent


def write_mot(path, rows):
    """MOT text: frame and id from 1, box top-left 1-based."""
    with open(path, "w") as f:
        for i, tid, x1, y1, x2, y2, c in sorted(rows, key=lambda r: (r[0], r[1])):
            f.write(f"{i + 1},{tid + 1},{x1 + 1:.2f},{y1 + 1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{c:.4f},-1,-1,-1\n")


def write_events(path, rows, n_frames, fps, label):
    """Batchline-style events with a ``track`` on each box (ids from 1, as in the MOT file)."""
    by = {}
    for i, tid, x1, y1, x2, y2, c in rows:
        by.setdefault(i, []).append({"label": label or "object", "score": round(c, 4),
                                     "box": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)],
                                     "track": tid + 1})
    with open(path, "w") as f:
        for i in range(n_frames):
            dets = sorted(by.get(i, []), key=lambda d: d["track"])
            f.write(json.dumps({"stream": 0, "frame": i, "pts": round(i / fps, 6), "detections": dets},
                               separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("events", help="Batchline events JSONL with every frame's detections")
    ap.add_argument("--tracker", action="append", choices=sorted(TRACKERS),
                    help="repeatable (default: bytetrack and sort)")
    ap.add_argument("--out-dir", default=None, help="default: the events file's folder")
    ap.add_argument("--fps", type=float, default=None, help="default: from the events' pts, else 10")
    ap.add_argument("--stream", default=None, help="only this stream (number or name)")
    ap.add_argument("--label", default="person", help="only this label ('' for all)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a tracker constructor argument (for every tracker named)")
    ap.add_argument("--jsonl", action="store_true", help="also write <tracker>.jsonl events with tracks")
    args = ap.parse_args()
    if not os.path.isfile(args.events):
        raise SystemExit(f"reference_trackers: error: {args.events}: no such file")
    overrides = {}
    for s in args.set:
        if "=" not in s:
            raise SystemExit(f"reference_trackers: error: --set {s}: expected NAME=VALUE")
        k, v = s.split("=", 1)
        overrides[k] = parse_value(v)
    frames, fps_guess = read_events(args.events, args.stream, args.label)
    fps = args.fps or fps_guess or 10.0
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.events))
    os.makedirs(out_dir, exist_ok=True)
    boxes = sum(len(s) for _, s in frames)
    for name in args.tracker or ["bytetrack", "sort"]:
        rows, spent = run_tracker(name, frames, fps, overrides)
        path = os.path.join(out_dir, f"{name}.txt")
        write_mot(path, rows)
        if args.jsonl:
            write_events(os.path.join(out_dir, f"{name}.jsonl"), rows, len(frames), fps, args.label)
        print(f"{name}: {len(frames)} frames at {fps:g} fps, {boxes} boxes in, {len(rows)} tracked out, "
              f"{len({r[1] for r in rows})} tracks, {len(frames) / max(spent, 1e-9):.0f} frames/s -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
