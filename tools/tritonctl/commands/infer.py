"""tritonctl infer: one inference request through tritonclient (gRPC by default, or HTTP)."""

from __future__ import annotations

import argparse

from tritonctl.endpoints import DEFAULT_URLS

HELP = "send one inference to a model: inputs from .npy, images, JSON or random; prints outputs or top-k classes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model name (as in the repository)")
    p.add_argument("--url", default=None, help=f"server address, host:port or grpc://.. http://.. (default {DEFAULT_URLS['grpc']} / {DEFAULT_URLS['http']})")
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")
    p.add_argument("--version", default="", help="model version (default: the server's policy picks)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input from a .npy file (repeat)")
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="an image (repeat for a batch): raw bytes for a BYTES input, else decoded to the input's [C,H,W] in [0,1]")
    p.add_argument("--json", dest="json_inputs", default=None, metavar="FILE|JSON", help='inputs as JSON: {"x": [[...]]} (a file path or the JSON itself)')
    p.add_argument("--random", action="store_true", help="random valid inputs from the model config (the default without other inputs)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size for --random (default 1)")
    p.add_argument("--seed", type=int, default=None, help="seed for --random")
    p.add_argument("--classes", type=int, default=0, metavar="K", help="top-K classes through Triton's classification extension")
    p.add_argument("--output", action="append", default=[], metavar="NAME", help="request only these outputs (repeat)")
    p.add_argument("--load", action="store_true", help="load the model first (server in explicit model control mode)")
    p.add_argument("--no-binary", action="store_true", help="HTTP: send and receive tensors as JSON instead of binary data")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")


def _load_inputs(args, client, config) -> dict:
    import json
    from pathlib import Path

    import numpy as np

    from tritonctl import client as tc
    from tritonctl.errors import ClientError

    specs = {i["name"]: i for i in config.get("input", [])}
    arrays: dict = {}
    for item in args.input:
        if "=" not in item:
            raise ClientError(f"--input '{item}' must be NAME=FILE.npy (inputs of model '{args.model}': {', '.join(specs)})")
        name, path = item.split("=", 1)
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ClientError(f"--input {name}: cannot read '{path}' as .npy: {exc}") from exc
    if args.json_inputs:
        text = args.json_inputs
        if Path(text).is_file():
            text = Path(text).read_text()
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ClientError(f"--json: not valid JSON ({exc}); expected {{\"input name\": nested list}}") from exc
        if not isinstance(data, dict):
            raise ClientError('--json: expected an object {"input name": nested list}')
        for name, value in data.items():
            dtype = tc.numpy_dtype(specs[name]["data_type"]) if name in specs else None
            if dtype is not None and dtype == np.object_:
                arrays[name] = np.array([v.encode() if isinstance(v, str) else v for v in np.ravel(value)], dtype=object).reshape(np.shape(value))
            else:
                arrays[name] = np.asarray(value, dtype=dtype)
    if args.image:
        if len(specs) != 1:
            raise ClientError(f"--image needs a model with one input; '{args.model}' has {', '.join(specs)}")
        (name, spec), = specs.items()
        batching = int(config.get("max_batch_size", 0) or 0) > 0
        if tc.numpy_dtype(spec["data_type"]) == np.object_:
            arr = np.concatenate([tc.encode_image(p) for p in args.image], axis=0)
            arrays[name] = arr if batching else arr[0]
        else:
            imgs = [tc.image_to_array(p, spec["dims"], tc.numpy_dtype(spec["data_type"])) for p in args.image]
            arrays[name] = np.stack(imgs) if batching else imgs[0]
    if not arrays:
        rng = np.random.default_rng(args.seed)
        arrays = tc.random_inputs(config, args.batch_size, rng=rng)
    return arrays


def _format(name, arr, classes: int) -> str:
    import numpy as np

    from tritonctl import client as tc

    if classes:
        lines = [f"{name}: top-{classes} classes"]
        for b, row in enumerate(tc.parse_classes(arr)):
            lines.append(f"  [{b}] " + "   ".join(f"{label} ({index}) {score:.4f}" for score, index, label in row))
        return "\n".join(lines)
    if arr.dtype == np.object_:
        shown = np.vectorize(lambda v: v.decode(errors="replace") if isinstance(v, bytes) else str(v), otypes=[object])(arr)
        body = np.array2string(shown, separator=", ", threshold=64, formatter={"all": str})
    else:
        body = np.array2string(arr, precision=6, separator=", ", threshold=64, suppress_small=True)
    return f"{name} {arr.dtype} {list(arr.shape)}:\n{body}"


def run(args) -> int:
    from tritonctl import client as tc

    client = tc.make_client(args.url, args.protocol)
    protocol = tc.protocol_of(client)
    try:
        if args.load:
            tc.load_model(client, args.model)
        config = tc.get_config(client, args.model, args.version)
        arrays = _load_inputs(args, client, config)
        kwargs = {"client_timeout": args.timeout} if protocol == "grpc" else {}
        outputs = tc.infer(
            client,
            args.model,
            arrays,
            version=args.version,
            outputs=args.output or None,
            classes=args.classes,
            binary=not args.no_binary,
            **kwargs,
        )
    finally:
        client.close()
    shapes = ", ".join(f"{n} {list(a.shape)}" for n, a in arrays.items())
    print(f"{args.model}" + (f" v{args.version}" if args.version else "") + f" over {protocol}: inputs {shapes}")
    for name, arr in outputs.items():
        print(_format(name, arr, args.classes))
    return 0
