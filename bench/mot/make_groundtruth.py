#!/usr/bin/env python3
"""Makes a pedestrian video with exact tracking ground truth from assets/vtest.avi.

No registry ships a video with tracking ground truth, so this builds one from the scene we have:

1. Background: the per-pixel median of every --bg-step'th frame of vtest.avi (people move, the
   scene does not, so the median is the empty scene).
2. People: background subtraction against that median (max channel difference over a threshold,
   opening and closing, external contours filled), connected components kept when they are of
   person size and shape and stand alone; components linked frame to frame by overlap give short
   runs of one person walking. From the runs, --people distinct people (by colour histogram) are
   taken, each as --cycle consecutive RGBA cut-outs (alpha = the cleaned mask, feathered by a pixel):
   played in turn, they make the pasted person walk.
3. A scripted scene (SCRIPT below, in seconds and source pixels): people walk both ways, two pairs
   cross (one passes in front of the other: occlusion), one stands still, one turns back, some
   enter and leave at the edges, at different speeds. A person's height follows the scene's
   perspective (fitted on the cut-outs: height against foot row), so people are smaller farther up.
   Nearer people (lower foot row) are pasted last, so they hide the farther ones.
4. Output (default out/bench/mot/): the video (H.264 .mp4 through the ffmpeg CLI, or MJPG .avi
   through OpenCV with --codec mjpg), gt.txt (MOT Challenge), meta.json, and sprites/ (the cut-outs
   as RGBA PNGs: colour plus mask).

Ground truth, one line per person per frame: ``frame,id,x,y,w,h,consider,1,visibility``.

* frame from 1; id from 1 (the SCRIPT's order); x, y 1-based as in the MOT Challenge (the image's
  top-left pixel is 1,1; a Batchline event's box is 0-based: score.py adds 1);
* the box is the extent of the person's pasted mask (not the cut-out's transparent margin),
  clipped to the image. It is the whole person even when another person hides part of them
  (the MOT Challenge convention);
* visibility is the share of the person's mask pixels that are seen: inside the image and not
  behind a nearer person;
* consider is 1, or 0 when visibility < --min-visibility (default 0.25): a person entering at the
  edge with a sliver shown, or hidden behind another. bench/mot/score.py ignores such lines as the
  MOT Challenge does: a tracker box matching one is neither a hit nor a false positive, and
  missing one is no miss;
* a person wholly outside the image has no line.

Deterministic: the same vtest.avi and options give the same files (fixed seed, no clock, no
threads in the drawing; x264 and MJPG are deterministic for a given build).

    .deps/venv/bin/python bench/mot/make_groundtruth.py            # out/bench/mot/
    .deps/venv/bin/python bench/mot/make_groundtruth.py --fps 30 --size 1280x720 --codec mjpg
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np

GENERATOR_VERSION = "1.0"
SEED = 20260517
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC_FPS = 10.0  # vtest.avi's rate: the cut-outs are 0.1 s apart

# The scene, in seconds and in source pixels (768x576): each person has an id (its place in this
# list, from 1), a role, and key points (t, foot x, foot y) joined by straight lines at constant
# speed. Before its first and after its last key point a person is not in the scene. Positions
# outside the image are allowed (entering and leaving). Two key points at the same place are a
# stop. ``sprite`` picks one of the cut-out people; ``scale`` adjusts the person's height.
SCRIPT = [
    {"role": "enters at the left edge, walks right; crosses id 2, who passes in front; leaves right",
     "sprite": 0, "keys": [(1.0, -30, 272), (16.0, 600, 270), (21.0, 800, 270)]},
    {"role": "from the right edge, walks left in front of id 1 (occludes it), leaves at the left edge",
     "sprite": 1, "keys": [(0.0, 783, 284), (2.0, 720, 284), (26.0, -30, 280)]},
    {"role": "walks in from the left edge, stands still for 20 s, leaves at the left edge",
     "sprite": 2, "keys": [(2.0, -30, 232), (9.0, 190, 238), (29.0, 190, 238), (38.0, -30, 226)]},
    {"role": "far away and slow, the whole video (small)",
     "sprite": 3, "keys": [(0.0, 250, 205), (60.0, 590, 180)]},
    {"role": "down the diagonal road from the right edge; crosses id 6 (who passes behind); leaves left",
     "sprite": 4, "keys": [(12.0, 790, 300), (33.0, 230, 452), (43.0, -40, 525)]},
    {"role": "from the left edge up the diagonal road, behind id 5; leaves at the right edge",
     "sprite": 5, "keys": [(3.0, -40, 466), (14.0, 260, 392), (34.0, 790, 262)]},
    {"role": "walks right on the grass, turns back, walks left out of the image",
     "sprite": 6, "keys": [(8.0, -40, 500), (20.0, 380, 478), (30.0, 620, 490), (31.5, 620, 490),
                           (44.0, 300, 470), (57.0, -40, 455)]},
    {"role": "fast: runs in from the right edge across the grass, leaves at the left edge",
     "sprite": 7, "keys": [(38.0, 790, 420), (47.0, -40, 340)]},
    {"role": "comes in from the right edge, walks towards the camera, leaves at the bottom edge",
     "sprite": 8, "keys": [(28.0, 790, 250), (40.0, 470, 300), (55.0, 380, 720)], "max_height": 190},
    {"role": "enters late at the right edge, still in view at the end",
     "sprite": 9, "keys": [(48.0, 790, 330), (60.0, 420, 262)]},
    {"role": "from the left edge, walks away from the camera up the grass, then right along the road",
     "sprite": 10, "keys": [(20.0, -40, 520), (24.0, 60, 470), (40.0, 300, 250), (44.0, 380, 246),
                            (60.0, 700, 232)]},
    {"role": "walks beside id 13 (a pair side by side), left to right",
     "sprite": 11, "keys": [(26.0, -40, 330), (46.0, 560, 370), (50.0, 800, 380)]},
    {"role": "walks beside id 12, half a step behind and nearer",
     "sprite": 0, "scale": 1.04, "keys": [(26.8, -40, 345), (46.8, 560, 385), (50.8, 800, 395)]},
]


def log(msg):
    print(f"make_groundtruth: {msg}", file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_frames(path, step=1):
    """Yields (index, BGR frame) for every step'th frame of the video."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise SystemExit(f"make_groundtruth: error: {path}: cannot open")
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if i % step == 0:
                yield i, frame
            i += 1
    finally:
        cap.release()


def median_background(path, step):
    """The per-pixel median of every step'th frame: the scene without its people."""
    frames = [f for _, f in read_frames(path, step)]
    log(f"background: median of {len(frames)} frames (every {step}th)")
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def foreground_mask(frame, bg, threshold):
    """Pixels that differ from the background, cleaned: opened (noise), closed (gaps), and each
    outer contour filled (holes where clothes match the ground)."""
    diff = cv2.absdiff(frame, bg).max(axis=2)
    mask = (diff > threshold).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def person_blobs(mask, min_h, max_h):
    """Connected components shaped like one person standing alone: (x, y, w, h, label, labels)."""
    H, W = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    out = []
    for j in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[j])
        if not (min_h <= h <= max_h and 1.9 <= h / w <= 4.5 and 0.35 <= area / (w * h) <= 0.8):
            continue
        if x < 4 or y < 4 or x + w > W - 4 or y + h > H - 4:
            continue  # touches the border: maybe cut
        # Alone: no other foreground within 12 px around its box.
        x0, y0, x1, y1 = max(0, x - 12), max(0, y - 12), min(W, x + w + 12), min(H, y + h + 12)
        around = labels[y0:y1, x0:x1]
        if np.any((around != j) & (around != 0)):
            continue
        out.append((x, y, w, h, j, labels))
    return out


def cutout(frame, labels, j, box):
    """The person's RGBA cut-out (BGRA, tight to its mask plus 2 px), alpha feathered by a pixel."""
    x, y, w, h = box
    H, W = labels.shape
    x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), min(W, x + w + 2), min(H, y + h + 2)
    m = (labels[y0:y1, x0:x1] == j).astype(np.uint8) * 255
    m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    alpha = cv2.GaussianBlur(m, (3, 3), 0)
    return np.dstack([frame[y0:y1, x0:x1], alpha])


def colour_histogram(bgra):
    """A normalised hue-saturation-value histogram of the cut-out's opaque pixels."""
    hsv = cv2.cvtColor(np.ascontiguousarray(bgra[:, :, :3]), cv2.COLOR_BGR2HSV)
    mask = (bgra[:, :, 3] > 128).astype(np.uint8)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask, [8, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def walking_runs(path, bg, threshold, cycle):
    """Runs of `cycle` consecutive frames in which one lone person's blob can be followed.

    Returns (runs, foot_rows, heights): each run a dict with its frames, boxes, cut-outs and
    horizontal direction; foot rows and heights of every person blob seen (for the perspective).
    """
    open_runs, runs, feet, heights = [], [], [], []
    for i, frame in read_frames(path):
        if i % 100 == 0:
            log(f"people: frame {i}")
        mask = foreground_mask(frame, bg, threshold)
        blobs = person_blobs(mask, 50, 150)
        for x, y, w, h, _, _ in blobs:
            feet.append(y + h)
            heights.append(h)
        still_open, used = [], set()
        for run in open_runs:
            px, py, pw, ph = run["boxes"][-1]
            best, best_iou = None, 0.3
            for k, (x, y, w, h, _, _) in enumerate(blobs):
                if k in used:
                    continue
                ix = max(0, min(px + pw, x + w) - max(px, x))
                iy = max(0, min(py + ph, y + h) - max(py, y))
                iou = ix * iy / (pw * ph + w * h - ix * iy)
                if iou > best_iou:
                    best, best_iou = k, iou
            if best is None:
                continue
            used.add(best)
            x, y, w, h, j, labels = blobs[best]
            run["frames"].append(i)
            run["boxes"].append((x, y, w, h))
            run["cutouts"].append(cutout(frame, labels, j, (x, y, w, h)))
            if len(run["frames"]) == cycle:
                runs.append(run)
            else:
                still_open.append(run)
        for k, (x, y, w, h, j, labels) in enumerate(blobs):
            if k not in used:
                still_open.append({"frames": [i], "boxes": [(x, y, w, h)],
                                   "cutouts": [cutout(frame, labels, j, (x, y, w, h))]})
        open_runs = still_open
    for run in runs:
        hs = np.array([b[3] for b in run["boxes"]], dtype=float)
        run["height"] = float(np.median(hs))
        run["steadiness"] = float(hs.std() / hs.mean())
        xs = [b[0] + b[2] / 2 for b in run["boxes"]]
        run["direction"] = 1 if xs[-1] >= xs[0] else -1
        run["stride"] = abs(xs[-1] - xs[0])  # pixels walked sideways: 0 for someone standing
        run["fill"] = float(np.median([(c[:, :, 3] > 128).sum() / (b[2] * b[3]) for c, b in zip(run["cutouts"], run["boxes"])]))
        run["hist"] = np.mean([colour_histogram(c) for c in run["cutouts"]], axis=0)
    return runs, np.array(feet, dtype=float), np.array(heights, dtype=float)


def pick_people(runs, count, min_distance):
    """Distinct people: of the runs whose height holds steady, that walk sideways (at least 8 px
    over the run) and whose mask fills enough of its box (two people overlapping fill less), the
    tallest first (largest cut-outs, least upscaled), each kept
    when its colours differ from every person kept so far (Bhattacharyya distance over
    min_distance), which also keeps out a second run of the same person."""
    steady = [r for r in runs if r["steadiness"] < 0.06 and r["fill"] >= 0.44 and r["stride"] >= 8]
    steady.sort(key=lambda r: (-r["height"], r["frames"][0]))
    picked = []
    for r in steady:
        if all(cv2.compareHist(r["hist"], p["hist"], cv2.HISTCMP_BHATTACHARYYA) > min_distance for p in picked):
            picked.append(r)
        if len(picked) == count:
            break
    return picked


def fit_perspective(feet, heights):
    """Person height in pixels as a straight line of the foot row (least squares, then refitted
    without the worst tenth: blobs of two people or of half a person)."""
    a, b = np.polyfit(feet, heights, 1)
    resid = np.abs(heights - (a * feet + b))
    keep = resid <= np.quantile(resid, 0.9)
    a, b = np.polyfit(feet[keep], heights[keep], 1)
    return float(a), float(b)


def position(keys, t):
    """Foot point (x, y) at time t along the key points, and whether the person moves there; None
    outside the person's time."""
    if t < keys[0][0] or t > keys[-1][0]:
        return None
    for (t0, x0, y0), (t1, x1, y1) in zip(keys, keys[1:]):
        if t0 <= t <= t1:
            u = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            moving = (x0, y0) != (x1, y1)
            return x0 + u * (x1 - x0), y0 + u * (y1 - y0), moving, (x1 - x0)
    return None


def scaled(c, height):
    """The cut-out resized so that its opaque part is `height` pixels tall."""
    opaque = np.where(c[:, :, 3].max(axis=1) > 128)[0]
    own = opaque[-1] - opaque[0] + 1 if len(opaque) else c.shape[0]
    f = height / own
    size = (max(1, round(c.shape[1] * f)), max(1, round(c.shape[0] * f)))
    return cv2.resize(c, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def render(people, perspective, width, height, fps, frames, bg, min_vis, seed):
    """Yields (frame index, BGR image, ground-truth rows) for each frame of the scripted scene,
    drawn at the source size (768x576) and resized to width x height."""
    rng = np.random.default_rng(seed)
    H, W = bg.shape[:2]
    sx, sy = width / W, height / H
    a, b = perspective
    tracks = []
    for tid, s in enumerate(SCRIPT, start=1):
        run = people[s["sprite"] % len(people)]
        tracks.append({
            "id": tid, "run": run, "keys": s["keys"],
            "scale": s.get("scale", 1.0) * float(rng.uniform(0.94, 1.06)),
            "phase": int(rng.integers(len(run["cutouts"]))),
            "max_height": s.get("max_height", 1e9),
            "walked": 0.0, "facing": 1,
        })
    for i in range(frames):
        t = i / fps
        placed = []
        for tr in tracks:
            p = position(tr["keys"], t)
            if p is None:
                continue
            fx, fy, moving, dx = p
            if moving:
                tr["walked"] += 1.0 / fps
                if dx:
                    tr["facing"] = 1 if dx > 0 else -1
            n = len(tr["run"]["cutouts"])
            k = (tr["phase"] + int(tr["walked"] * SRC_FPS)) % n
            c = tr["run"]["cutouts"][k]
            if tr["facing"] != tr["run"]["direction"]:
                c = c[:, ::-1]
            ph = min(tr["max_height"], max(20.0, (a * fy + b) * tr["scale"]))
            placed.append((fy, tr["id"], fx, scaled(c, ph)))
        img = bg.copy()
        owner = np.zeros((H, W), dtype=np.int32)
        drawn = []
        for fy, tid, fx, c in sorted(placed, key=lambda p: (p[0], p[1])):  # far first
            h, w = c.shape[:2]
            opaque = np.where(c[:, :, 3].max(axis=1) > 128)[0]
            bottom = opaque[-1] if len(opaque) else h - 1
            x0, y0 = int(round(fx - w / 2)), int(round(fy - bottom))
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
            solid = c[:, :, 3] > 128
            total = int(solid.sum())
            if cx0 >= cx1 or cy0 >= cy1 or total == 0:
                continue
            part = c[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            alpha = part[:, :, 3:4].astype(np.float32) / 255.0
            roi = img[cy0:cy1, cx0:cx1]
            roi[:] = np.round(part[:, :, :3] * alpha + roi * (1 - alpha)).astype(np.uint8)
            psolid = solid[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            if not psolid.any():
                continue
            owner[cy0:cy1, cx0:cx1][psolid] = tid
            rows, cols = np.where(psolid)
            drawn.append((tid, cx0 + cols.min(), cy0 + rows.min(), cx0 + cols.max() + 1, cy0 + rows.max() + 1, total))
        gt = []
        for tid, x1, y1, x2, y2, total in sorted(drawn):
            vis = float((owner == tid).sum()) / total
            bx1, by1, bx2, by2 = x1 * sx, y1 * sy, x2 * sx, y2 * sy
            gt.append((i + 1, tid, bx1, by1, bx2 - bx1, by2 - by1, 1 if vis >= min_vis else 0, vis))
        if (width, height) != (W, H):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        yield i, img, gt


class VideoOut:
    """Frames to a video file: H.264 through the ffmpeg CLI (.mp4), or MJPG through OpenCV (.avi)."""

    def __init__(self, path, codec, width, height, fps):
        self.proc = self.writer = None
        if codec == "h264":
            if not shutil.which("ffmpeg"):
                raise SystemExit("make_groundtruth: error: no ffmpeg CLI (scripts/bootstrap.sh --test-peers; or --codec mjpg)")
            cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-",
                   "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
                   "-g", str(max(1, int(round(fps * 2)))), "-fflags", "+bitexact", "-flags:v", "+bitexact",
                   "-map_metadata", "-1", path]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        else:
            self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
            if not self.writer.isOpened():
                raise SystemExit(f"make_groundtruth: error: {path}: OpenCV cannot write MJPG")

    def write(self, img):
        if self.proc:
            self.proc.stdin.write(np.ascontiguousarray(img).tobytes())
        else:
            self.writer.write(img)

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            if self.proc.wait() != 0:
                raise SystemExit("make_groundtruth: error: ffmpeg failed")
        else:
            self.writer.release()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=os.path.join(ROOT, "assets", "vtest.avi"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "mot"))
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=None, help="default: the script's 60 s at --fps")
    ap.add_argument("--size", default="768x576", help="WxH of the output video (the scene is drawn at 768x576)")
    ap.add_argument("--codec", choices=["h264", "mjpg"], default="h264")
    ap.add_argument("--people", type=int, default=12, help="distinct people cut out (<= 12 used by the script)")
    ap.add_argument("--cycle", type=int, default=8, help="consecutive cut-outs per person (a walking cycle)")
    ap.add_argument("--bg-step", type=int, default=5)
    ap.add_argument("--threshold", type=int, default=30, help="background difference threshold (0-255)")
    ap.add_argument("--min-visibility", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    frames = args.frames if args.frames is not None else int(round(60 * args.fps))
    if not os.path.exists(args.source):
        raise SystemExit(f"make_groundtruth: error: {args.source}: missing (run scripts/bootstrap.sh)")
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()

    bg = median_background(args.source, args.bg_step)
    runs, feet, heights = walking_runs(args.source, bg, args.threshold, args.cycle)
    perspective = fit_perspective(feet, heights)
    log(f"perspective: height = {perspective[0]:.3f} * foot_y + {perspective[1]:.1f} ({len(feet)} blobs)")
    people = pick_people(runs, args.people, 0.25)
    log(f"people: {len(people)} distinct of {len(runs)} runs of {args.cycle} frames")
    if len(people) < 2:
        raise SystemExit("make_groundtruth: error: fewer than 2 people found")

    sprite_dir = os.path.join(args.out, "sprites")
    shutil.rmtree(sprite_dir, ignore_errors=True)
    os.makedirs(sprite_dir)
    cv2.imwrite(os.path.join(args.out, "background.png"), bg)
    for p, run in enumerate(people):
        for f, c in zip(run["frames"], run["cutouts"]):
            cv2.imwrite(os.path.join(sprite_dir, f"person{p:02d}_frame{f:03d}.png"), c)

    ext = "mp4" if args.codec == "h264" else "avi"
    video = os.path.join(args.out, f"mot_vtest.{ext}")
    out = VideoOut(video, args.codec, width, height, args.fps)
    rows = []
    for i, img, gt in render(people, perspective, width, height, args.fps, frames, bg,
                             args.min_visibility, args.seed):
        out.write(img)
        rows.extend(gt)
        if (i + 1) % 100 == 0 or i + 1 == frames:
            log(f"video: frame {i + 1}/{frames}")
    out.close()

    gt_path = os.path.join(args.out, "gt.txt")
    with open(gt_path, "w") as f:
        for fr, tid, x, y, w, h, consider, vis in rows:
            f.write(f"{fr},{tid},{x + 1:.2f},{y + 1:.2f},{w:.2f},{h:.2f},{consider},1,{vis:.3f}\n")

    per_track = {}
    for fr, tid, x, y, w, h, consider, vis in rows:
        t = per_track.setdefault(tid, {"first": fr, "last": fr, "lines": 0, "ignored": 0})
        t["last"], t["lines"], t["ignored"] = fr, t["lines"] + 1, t["ignored"] + (consider == 0)
    meta = {
        "generator": "bench/mot/make_groundtruth.py", "generator_version": GENERATOR_VERSION,
        "seed": args.seed, "source": os.path.relpath(args.source, ROOT) if args.source.startswith(ROOT) else args.source,
        "source_sha256": sha256(args.source),
        "video": os.path.basename(video), "codec": args.codec, "fps": args.fps,
        "width": width, "height": height, "frames": frames,
        "gt": "gt.txt", "gt_format": "frame,id,x,y,w,h,consider,class,visibility (frame and id from 1)",
        "min_visibility": args.min_visibility,
        "gt_lines": len(rows), "gt_lines_ignored": sum(1 for r in rows if r[6] == 0),
        "perspective": {"height_per_foot_row": round(perspective[0], 4), "height_at_row_0": round(perspective[1], 2)},
        "people": [{"sprite": p, "source_frames": run["frames"], "height": run["height"],
                    "direction": "right" if run["direction"] > 0 else "left"} for p, run in enumerate(people)],
        "tracks": [{"id": tid, "role": s["role"], "sprite": s["sprite"] % len(people),
                    "keys_s_xy": [list(k) for k in s["keys"]], **per_track.get(tid, {"lines": 0})}
                   for tid, s in enumerate(SCRIPT, start=1)],
        "sha256": {"video": sha256(video), "gt": sha256(gt_path)},
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    log(f"wrote {video}, {gt_path} ({len(rows)} lines, {meta['gt_lines_ignored']} ignored), meta.json "
        f"in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
