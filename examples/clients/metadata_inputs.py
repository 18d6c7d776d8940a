#!/usr/bin/env python3
"""Build a request from what the server says about a model, instead of hard-coding it.

Reads the model's metadata (input/output names, datatypes, shapes with -1 for variable sizes) and
config (``max_batch_size``: whether the first dimension is the batch), then fills each input:
numbers with random values, BYTES inputs with the contents of ``--bytes-file``; every -1 after the
batch dimension becomes ``--dim``. Works for any model of the repository without editing.

    python examples/clients/metadata_inputs.py --url localhost:8001 --model text_classifier --batch 2 --dim 16
    python examples/clients/metadata_inputs.py --model digits_pipeline --bytes-file examples/digits_samples/003_label3.png

``--save io.npz`` writes the inputs sent and the outputs received (``in:<name>``/``out:<name>``).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, triton_to_np_dtype


def build_inputs(metadata: dict, config: dict, batch: int, dim: int, rng: np.random.Generator, int_high: int, payload: bytes | None):
    """One InferInput per metadata input, plus the numpy arrays they carry (by name)."""
    batched = int(config.get("max_batch_size", 0)) > 0
    inputs, arrays = [], {}
    for spec in metadata["inputs"]:
        dims = [int(d) for d in spec["shape"]]
        if batched:
            dims[0] = batch  # metadata shows the batch dimension as -1
        shape = [dim if d < 0 else d for d in dims]
        if spec["datatype"] == "BYTES":
            if payload is None:
                raise SystemExit(f"error: input '{spec['name']}' is BYTES; pass --bytes-file with its content")
            array = np.full(shape, payload, dtype=np.object_)
        else:
            dtype = triton_to_np_dtype(spec["datatype"])
            if np.issubdtype(dtype, np.integer):
                array = rng.integers(0, int_high, size=shape).astype(dtype)
            elif dtype == np.bool_:
                array = rng.integers(0, 2, size=shape).astype(bool)
            else:
                array = rng.standard_normal(shape).astype(dtype)
        tensor = grpcclient.InferInput(spec["name"], shape, spec["datatype"])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
        arrays[spec["name"]] = array
    return inputs, arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:8001", help="Triton gRPC address (default: localhost:8001)")
    parser.add_argument("--model", default="linear", help="model to call (default: linear)")
    parser.add_argument("--version", default="", help="model version (default: the server's choice)")
    parser.add_argument("--batch", type=int, default=1, help="batch size, for models with max_batch_size > 0 (default: 1)")
    parser.add_argument("--dim", type=int, default=8, help="size of every variable (-1) dimension (default: 8)")
    parser.add_argument("--int-high", type=int, default=2, help="integer inputs are drawn from [0, int-high) (default: 2)")
    parser.add_argument("--bytes-file", help="content of BYTES inputs (e.g. a PNG for an image pipeline)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the inputs (default: 0)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline per call in seconds (default: 10)")
    parser.add_argument("--save", help="write inputs and outputs to this .npz file")
    args = parser.parse_args(argv)

    payload = open(args.bytes_file, "rb").read() if args.bytes_file else None
    client = grpcclient.InferenceServerClient(args.url)
    try:
        metadata = client.get_model_metadata(args.model, args.version, as_json=True, client_timeout=args.timeout)
        config = client.get_model_config(args.model, args.version, as_json=True, client_timeout=args.timeout)["config"]
        inputs, arrays = build_inputs(metadata, config, args.batch, args.dim, np.random.default_rng(args.seed), args.int_high, payload)
        outputs = [grpcclient.InferRequestedOutput(o["name"]) for o in metadata["outputs"]]
        result = client.infer(args.model, inputs, args.version, outputs=outputs, client_timeout=args.timeout)
    except InferenceServerException as err:
        print(f"error: {args.model} on {args.url}: {err.status()}: {err.message()}", file=sys.stderr)
        return 1
    finally:
        client.close()

    received = {o["name"]: result.as_numpy(o["name"]) for o in metadata["outputs"]}
    summary = {
        "model": args.model,
        "max_batch_size": int(config.get("max_batch_size", 0)),
        "inputs": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()},
        "outputs": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in received.items()},
    }
    print(json.dumps(summary))
    if args.save:
        np.savez(args.save, **{f"in:{k}": v for k, v in arrays.items()}, **{f"out:{k}": v for k, v in received.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
