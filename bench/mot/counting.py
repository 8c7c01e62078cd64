"""Line-crossing counts against the ground truth of bench/mot (gt.txt: people walked along known
paths): batchline's events (`run --line`) beside supervision's LineZone on Roboflow's ByteTrack
tracks of the same detections (MOT txt from reference_trackers.py), both at the bottom-centre anchor.

A true crossing: a ground-truth person's bottom centre passing from one side of the line to the
other, counted once per person per direction (batchline's rule). Directions are batchline's: `in`
is from the left of the line's start -> end to its right on the picture (y down). supervision names
them the other way round (checked here on a synthetic track), so its counts are swapped to match.

  counting.py GT.txt LINES.json --batchline NAME=EVENTS.jsonl ... --mot NAME=TRACKS.txt ... [--json OUT]
"""
import argparse
import collections
import json

import numpy as np
import supervision as sv


def side(line, x, y):
    (x1, y1), (x2, y2) = line
    d = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    return 1 if d > 0 else -1 if d < 0 else 0


def segments_cross(p, q, a, b):
    def orient(o, u, v):
        return (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0])
    return orient(a, b, p) * orient(a, b, q) < 0 and orient(p, q, a) * orient(p, q, b) < 0


def truth(gt_path, lines):
    paths = collections.defaultdict(list)
    for row in open(gt_path):
        f = row.strip().split(",")
        x, y, w, h = map(float, f[2:6])
        paths[int(f[1])].append((int(f[0]), x + w / 2, y + h))
    counts = {name: {"in": 0, "out": 0} for name in lines}
    for pts in paths.values():
        pts.sort()
        for name, line in lines.items():
            seen, last = set(), None
            for _, x, y in pts:
                s = side(line, x, y)
                if s == 0:
                    continue
                if last and last[0] != s and segments_cross(last[1], (x, y), *line):
                    direction = "in" if s > 0 else "out"
                    if direction not in seen:
                        seen.add(direction)
                        counts[name][direction] += 1
                last = (s, (x, y))
    return counts


def batchline(events_path, lines):
    counts = {name: {"in": 0, "out": 0} for name in lines}
    for raw in open(events_path):
        for e in json.loads(raw).get("events", []):
            if e["type"] == "line_crossed" and e["line"] in counts:
                counts[e["line"]][e["direction"]] += 1
    return counts


def supervision_swapped():
    """Whether supervision calls batchline's `in` `out` (a track moving down across a left-to-right line)."""
    zone = sv.LineZone(start=sv.Point(0, 300), end=sv.Point(600, 300), triggering_anchors=[sv.Position.BOTTOM_CENTER])
    for y in (250, 280, 320, 350):
        zone.trigger(sv.Detections(xyxy=np.array([[280, y - 100, 320, y]], dtype=float),
                                   tracker_id=np.array([1]), class_id=np.array([0])))
    return zone.out_count == 1


def line_zone(mot_path, lines):
    frames = collections.defaultdict(list)
    for row in open(mot_path):
        f = row.strip().split(",")
        x, y, w, h = map(float, f[2:6])
        frames[int(f[0])].append((int(f[1]), [x, y, x + w, y + h]))
    zones = {name: sv.LineZone(start=sv.Point(*a), end=sv.Point(*b), triggering_anchors=[sv.Position.BOTTOM_CENTER])
             for name, (a, b) in lines.items()}
    for frame in sorted(frames):
        rows = frames[frame]
        d = sv.Detections(xyxy=np.array([r[1] for r in rows], dtype=float),
                          tracker_id=np.array([r[0] for r in rows]), class_id=np.zeros(len(rows), dtype=int))
        for z in zones.values():
            z.trigger(d)
    swapped = supervision_swapped()
    return {name: {"in": z.out_count if swapped else z.in_count, "out": z.in_count if swapped else z.out_count}
            for name, z in zones.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gt")
    ap.add_argument("lines")
    ap.add_argument("--batchline", action="append", default=[])
    ap.add_argument("--mot", action="append", default=[])
    ap.add_argument("--json")
    a = ap.parse_args()
    lines = {k: (tuple(v[0]), tuple(v[1])) for k, v in json.load(open(a.lines)).items()}
    rows = {"truth": truth(a.gt, lines)}
    for item in a.batchline:
        name, path = item.rsplit("=", 1)
        rows[name] = batchline(path, lines)
    for item in a.mot:
        name, path = item.rsplit("=", 1)
        rows[name] = line_zone(path, lines)
    true_total = sum(c["in"] + c["out"] for c in rows["truth"].values())
    print(f"line crossings against the ground truth ({true_total} true crossings over {len(lines)} lines)")
    print(f"{'counter':34}" + "".join(f"{n + ' in/out':>14}" for n in lines) + f"{'error':>8}{'% of true':>11}")
    summary = {}
    for name, counts in rows.items():
        error = sum(abs(counts[l][d] - rows["truth"][l][d]) for l in lines for d in ("in", "out"))
        summary[name] = {"counts": counts, "error": error, "error_pct": 100 * error / max(1, true_total)}
        print(f"{name:34}" + "".join(f"{str(counts[l]['in']) + '/' + str(counts[l]['out']):>14}" for l in lines)
              + f"{error:8d}{summary[name]['error_pct']:10.1f}%")
    if a.json:
        json.dump(summary, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
