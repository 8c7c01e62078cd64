#!/usr/bin/env python3
"""NVIDIA's tritonclient against a live `batchline serve` (the Open Inference Protocol).

    triton_client_check.py HOST:PORT MODEL MODEL_FILE VIDEO [OTHER_MODEL]

Checks, printing one line each and exiting 1 at the first failure: server live and ready, server
and model metadata, model ready, infer with binary tensors (and JSON tensors) on a real 300x300
frame whose outputs equal OpenVINO's Python API on the same input, repository index, unload and
load, statistics, and a malformed request refused with 4xx while the server stays live.
"""
import sys

import cv2
import numpy as np
import openvino as ov
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def main() -> int:
    url, model, model_file, video = sys.argv[1:5]
    client = httpclient.InferenceServerClient(url=url)
    check(client.is_server_live(), "server live")
    check(client.is_server_ready(), "server ready")
    meta = client.get_server_metadata()
    check(meta["name"] == "batchline" and "binary_tensor_data" in meta["extensions"], f"server metadata {meta}")
    mm = client.get_model_metadata(model)
    check(mm["name"] == model and mm["inputs"][0]["shape"] == [-1, 300, 300, 3], f"model metadata {mm['inputs']}")
    check(client.is_model_ready(model), "model ready")
    input_name = mm["inputs"][0]["name"]
    output_names = [o["name"] for o in mm["outputs"]]

    # A real frame: vtest.avi's first, resized to the model's 300x300 (any real picture will do:
    # both sides get the same bytes).
    ok, bgr = cv2.VideoCapture(video).read()
    check(ok, "read a frame of the video")
    frame = np.ascontiguousarray(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (300, 300)))[np.newaxis]

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model_file), "CPU")
    # On a CPU with bf16 units OpenVINO computes in bf16 by default (8 bits of mantissa): the
    # server's batch-shaped graph and this one round differently, by up to a few 1e-3.
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    tolerance = 1e-2 if "bf16" in precision or "bfloat16" in precision else 1e-4
    print(f"OpenVINO computes in {precision} here: tolerance {tolerance}", flush=True)
    expected = {}
    for port, value in compiled.create_infer_request().infer({0: frame}).items():
        for n in port.get_names():
            expected[n.split(":")[0]] = value

    for binary in (True, False):
        inp = httpclient.InferInput(input_name, list(frame.shape), "UINT8")
        inp.set_data_from_numpy(frame, binary_data=binary)
        outs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in output_names]
        result = client.infer(model, [inp], outputs=outs)
        got = {n: result.as_numpy(n) for n in output_names}
        kind = "binary" if binary else "JSON"
        for n in output_names:
            check(got[n] is not None and got[n].shape == expected[n].shape,
                  f"infer ({kind}) output {n} {None if got[n] is None else got[n].shape}, as OpenVINO's {expected[n].shape}")
        # The detections equal OpenVINO's, up to float rounding (the batched kernels of the serving
        # requests and the Python API's differ in the last bits, and detections whose scores tie
        # within that may swap places, as the near-zero ones at the tail of the 100 do): the same
        # count, and each of OpenVINO's detections scoring 0.05 or more found in ours with the same
        # score and box.
        n_want, n_got = int(expected["num_detections"][0]), int(got["num_detections"][0])
        check(n_want == n_got, f"infer ({kind}): {n_got} detections, OpenVINO's {n_want}")
        worst, compared = 0.0, 0
        for i in range(n_want):
            if expected["detection_scores"][0][i] < 0.05:
                continue
            compared += 1
            row = np.concatenate([expected["detection_boxes"][0][i], [expected["detection_scores"][0][i],
                                  expected["detection_classes"][0][i]]])
            ours = np.concatenate([got["detection_boxes"][0][:n_got], got["detection_scores"][0][:n_got, None],
                                   got["detection_classes"][0][:n_got, None]], axis=1)
            worst = max(worst, float(np.abs(ours - row).max(axis=1).min()))
        check(compared >= 2 and worst < tolerance,
              f"infer ({kind}): the {compared} detections scoring >= 0.05 equal OpenVINO's (largest difference {worst:.2e})")
    # Several frames in one request, no outputs named (binary by default).
    two = np.concatenate([frame, frame[:, ::-1].copy()])
    inp = httpclient.InferInput(input_name, list(two.shape), "UINT8")
    inp.set_data_from_numpy(two)
    result = client.infer(model, [inp])
    check(result.as_numpy(output_names[0]).shape[0] == 2, "a request of 2 frames answers 2")

    index = client.get_model_repository_index()
    check(any(m["name"] == model and m.get("state") == "READY" for m in index), f"repository index {index}")
    stats = client.get_inference_statistics(model)["model_stats"][0]
    check(
        stats["inference_count"] >= 4 and stats["execution_count"] >= 1 and stats["batch_stats"],
        f"statistics: {stats['inference_count']} inferences in {stats['execution_count']} executions",
    )

    # Malformed requests: refused with 4xx, and the server stays live.
    for shape, dtype, label in [([1, 200, 200, 3], "UINT8", "wrong shape"), ([1, 300, 300, 3], "FP32", "wrong datatype")]:
        bad = httpclient.InferInput(input_name, shape, dtype)
        bad.set_data_from_numpy(np.zeros(shape, dtype=np.uint8 if dtype == "UINT8" else np.float32))
        try:
            client.infer(model, [bad])
            check(False, f"{label} refused")
        except InferenceServerException as e:
            check(str(e.status()) == "400", f"{label} refused with {e.status()}: {e.message()}")
    wrong = httpclient.InferInput("no_such_input", list(frame.shape), "UINT8")
    wrong.set_data_from_numpy(frame)
    try:
        client.infer(model, [wrong])
        check(False, "wrong input name refused")
    except InferenceServerException as e:
        check(str(e.status()) == "400", f"wrong input name refused with {e.status()}")
    check(client.is_server_live(), "still live after the malformed requests")

    if len(sys.argv) > 5:
        # A second model of the repository: loaded, ready, unloaded.
        other = sys.argv[5]
        check(not client.is_model_ready(other), f"{other} not loaded yet")
        client.load_model(other)
        check(client.is_model_ready(other), f"{other} loaded: ready")
        check(any(m["name"] == other and m["state"] == "READY" for m in client.get_model_repository_index()),
              f"{other} READY in the index")
        client.unload_model(other)
        check(not client.is_model_ready(other), f"{other} unloaded: not ready")
        try:
            client.unload_model(model)
            check(False, "unloading a model that streams use is refused")
        except InferenceServerException as e:
            check(str(e.status()) == "409", f"unloading a model that streams use is refused: {e.message()}")
    try:
        client.load_model("no-such-model")
        check(False, "a missing model's load refused")
    except InferenceServerException as e:
        check(str(e.status()).startswith("4"), f"a missing model's load refused: {e.message()}")
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
