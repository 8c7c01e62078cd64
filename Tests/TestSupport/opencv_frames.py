#!/usr/bin/env python3
"""Writes the first N frames of a video as OpenCV decodes them, as raw RGB (BGR -> RGB).

    opencv_frames.py VIDEO N OUT.rgb   ->  prints "WIDTH HEIGHT FRAMES"
"""
import sys

import cv2


def main() -> int:
    video, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        print(f"{video}: OpenCV cannot open it", file=sys.stderr)
        return 1
    written, shape = 0, (0, 0)
    with open(out, "wb") as f:
        while written < count:
            ok, bgr = cap.read()
            if not ok:
                break
            f.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).tobytes())
            shape = bgr.shape[:2]
            written += 1
    print(shape[1], shape[0], written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
