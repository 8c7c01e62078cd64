"""Batchline's quantiser: makes a lower-precision OpenVINO IR of a model, calibrated on frames that
Batchline decoded and pre-processed exactly as its serving pipeline does (`batchline models
quantize` writes them to a raw file and runs this script with the project's venv).

    python quantize.py --model FILE --input NAME --frame-shape 300,300,3 --dtype u8 \
        --calibration frames.raw --output DIR/model.xml --precision int8 [--preset mixed]

Progress goes to standard error as `quantize: ...` lines; the last line of standard output is a JSON
object naming the file written and the method. Exit 1 with one line on any error.
"""

import argparse
import json
import sys
import time


def log(message):
    print(f"quantize: {message}", file=sys.stderr, flush=True)


def prediction_heads(model):
    """The convolutions (and the depthwise ones before them) whose outputs become the model's
    per-anchor predictions: Convolution -> [Add] -> [Transpose] -> Reshape -> Concat."""
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution"):
            continue
        node, path = op, []
        for _ in range(4):
            consumers = [t.get_node() for out in node.outputs() for t in out.get_target_inputs()]
            if len(consumers) != 1:
                break
            node = consumers[0]
            path.append(node.get_type_name())
            if node.get_type_name() == "Reshape":
                break
        if path and path[-1] == "Reshape":
            names.append(op.get_friendly_name())
            source = op.input_value(0).get_node()
            if source.get_type_name() in ("GroupConvolution", "Convolution"):
                names.append(source.get_friendly_name())
    return sorted(set(names))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--frame-shape", required=True, help="one frame's input shape, without the batch")
    parser.add_argument("--dtype", choices=["u8", "f32"], required=True)
    parser.add_argument("--calibration", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--precision", choices=["int8", "fp16"], default="int8")
    parser.add_argument("--preset", choices=["performance", "mixed"], default="mixed")
    parser.add_argument("--ignore", action="append", default=[], help="regex of node names kept in float")
    parser.add_argument(
        "--keep-heads",
        action="store_true",
        help="keep the prediction heads (the convolutions feeding Transpose/Reshape -> Concat) in float",
    )
    args = parser.parse_args()

    t0 = time.monotonic()
    import numpy as np
    import openvino as ov

    core = ov.Core()
    model = core.read_model(args.model)
    log(f"read {args.model} ({len(model.get_ops())} operations)")
    if args.precision == "fp16":
        ov.save_model(model, args.output, compress_to_fp16=True)
        print(json.dumps({"file": args.output, "method": f"openvino {ov.__version__} fp16 weights"}))
        return

    import nncf

    shape = tuple(int(x) for x in args.frame_shape.split(","))
    dtype = np.uint8 if args.dtype == "u8" else np.float32
    data = np.fromfile(args.calibration, dtype=dtype)
    per_frame = int(np.prod(shape))
    if data.size == 0 or data.size % per_frame:
        raise SystemExit(f"quantize: {args.calibration}: {data.size} values is not a whole number of {shape} frames")
    frames = data.reshape((-1,) + shape)
    log(f"calibrating on {len(frames)} frames of {shape} {args.dtype} (nncf {nncf.__version__})")
    # The sidecar names the input as Batchline finds it (TensorFlow's `image_tensor` is the tensor
    # `image_tensor:0`): feed by position when the model has one input.
    names = [n for i in model.inputs for n in i.get_names()]
    if len(model.inputs) == 1:
        feed = lambda x: x  # noqa: E731
    else:
        key = next((n for n in (args.input, args.input + ":0") if n in names), args.input)
        feed = lambda x: {key: x}  # noqa: E731
    dataset = nncf.Dataset([frames[i : i + 1] for i in range(len(frames))], feed)
    preset = nncf.QuantizationPreset.MIXED if args.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE
    heads = prediction_heads(model) if args.keep_heads else []
    if args.keep_heads:
        log(f"keeping {len(heads)} prediction-head convolutions in float")
    ignored = (
        nncf.IgnoredScope(names=heads, patterns=args.ignore, validate=False) if args.ignore or heads else None
    )
    kwargs = {"ignored_scope": ignored} if ignored else {}
    quantized = nncf.quantize(model, dataset, subset_size=len(frames), preset=preset, **kwargs)
    ov.save_model(quantized, args.output, compress_to_fp16=False)
    kept = f", {', '.join(args.ignore)} kept in float" if args.ignore else ""
    kept += f", {len(heads)} prediction-head convolutions kept in float" if heads else ""
    log(f"wrote {args.output} in {time.monotonic() - t0:.1f} s")
    method = f"nncf {nncf.__version__} post-training quantization, int8, {args.preset} preset{kept}"
    print(json.dumps({"file": args.output, "method": method}))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as error:  # one line, for the caller
        text = " ".join(line.strip() for line in str(error).strip().splitlines() if line.strip())
        print(f"quantize: {type(error).__name__}: {text[:2000]}", file=sys.stderr)
        sys.exit(1)
