"""The ground truth's own boxes as a detector's answers: an events file that `TrackerBench replay`
takes, one line per frame (empty frames included), each person seen (``consider`` 1: at least a
quarter of them visible) a ``person`` at score 0.9. What counting scores when detection is perfect
tells the counting's own error from the detector's.

Usage: python bench/mot/gt_detections.py GT.txt FPS FRAMES > detections.jsonl
"""
import collections
import json
import sys


def main():
    gt_path, frames = sys.argv[1], int(sys.argv[3])
    num, _, den = sys.argv[2].partition("/")  # 10 or 10/1, as ffprobe gives it
    fps = float(num) / float(den or 1)
    boxes = collections.defaultdict(list)
    for row in open(gt_path):
        f = row.strip().split(",")
        if f[6] != "1":
            continue
        x, y, w, h = map(float, f[2:6])
        boxes[int(f[0])].append({"label": "person", "score": 0.9, "box": [x, y, x + w, y + h]})
    for frame in range(1, frames + 1):
        print(json.dumps({"frame": frame - 1, "pts": (frame - 1) / fps, "detections": boxes[frame]}))


if __name__ == "__main__":
    main()
