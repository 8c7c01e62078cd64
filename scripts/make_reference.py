#!/usr/bin/env python3
"""Makes the reference detections that tests compare `batchline run` against.

Decodes the video with OpenCV (`cv2.VideoCapture`, BGR turned to RGB: what people
who use OpenCV get, and bit for bit what the FFmpeg CLI's `-pix_fmt rgb24` gives on
key frames) and feeds every *full* frame,
unresized, to the detector through OpenVINO's Python API, so the graph's own
resize runs: an independent check of Batchline's decoding, pre-processing
(the resize the sidecar names) and post-processing.

Writes, for each frame, the detections scoring at least --min-score as
[x1, y1, x2, y2, score] in pixels.

    .deps/venv/bin/python scripts/make_reference.py \
        --model models/pedestrian-ssdlite/1/frozen_inference_graph.pb \
        --video assets/vtest.avi --out Tests/Fixtures/vtest_reference.json
"""
import argparse
import json
import sys
import time

import cv2
import numpy as np
import openvino as ov


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-score", type=float, default=0.3)
    args = ap.parse_args()

    core = ov.Core()
    compiled = core.compile_model(core.read_model(args.model), "CPU")
    request = compiled.create_infer_request()
    frames = []
    start = time.time()
    capture = cv2.VideoCapture(args.video)
    if not capture.isOpened():
        print(f"{args.video}: OpenCV cannot open it", file=sys.stderr)
        return 1
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        h, w = rgb.shape[:2]
        out = request.infer({0: rgb[np.newaxis]})
        by_name = {n: v for port, v in out.items() for n in port.get_names()}
        boxes = by_name["detection_boxes:0"][0]
        scores = by_name["detection_scores:0"][0]
        count = int(by_name["num_detections:0"][0])
        dets = []
        for i in range(count):
            s = float(scores[i])
            if s < args.min_score:
                continue
            y1, x1, y2, x2 = (float(v) for v in boxes[i])
            dets.append([round(x1 * w, 2), round(y1 * h, 2), round(x2 * w, 2), round(y2 * h, 2), round(s, 4)])
        frames.append(dets)
        if len(frames) % 100 == 0:
            print(f"{len(frames)} frames, {time.time() - start:.0f} s", file=sys.stderr)
    ref = {
        "video": "vtest.avi",
        "model": "pedestrian-ssdlite@1",
        "method": "OpenVINO Python API, full frames (graph's own resize), OpenCV decoding (cv2.VideoCapture, BGR to RGB)",
        "openvino": ov.get_version(),
        "opencv": cv2.__version__,
        "min_score": args.min_score,
        "frames": frames,
    }
    with open(args.out, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"wrote {len(frames)} frames to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
