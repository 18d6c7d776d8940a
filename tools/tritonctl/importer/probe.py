"""Analyse a TorchServe handler on sample requests (run in a subprocess by `tritonctl import`).

It loads the archive with handler_runtime (exactly as the imported Triton models will), answers
the samples through the handler's own handle() (the reference), and decides whether the handler
splits into preprocess -> model -> postprocess:

* the handler is a BaseHandler subclass that keeps BaseHandler.handle;
* inference() has no control flow, calls the model exactly once, with exactly what preprocess
  returned (a tensor, or a tuple/list of tensors passed positionally), and returns the model's
  result unchanged;
* preprocess gives one row per request, and the model returns tensors with one row per request;
* the split pipeline answers byte-for-byte what handle() answers, with the pre/post steps
  initialised without the weights (as they run in Triton);
* the model as models.yaml will load it (class + state_dict, or the TorchScript file) gives the
  handler's model outputs.

Anything else: the handler is kept whole, and the reasons say why. The tensor specs come from
the samples: a dimension that differs between samples is dynamic (-1).

Usage: python -m tritonctl.importer.probe REQUEST.json RESULT.json
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import shutil
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path

from tritonctl.wire.dtypes import TORCH_TO_SPEC
from tritonctl.importer.handler_runtime import HandlerHost, HandlerLoadError, WeightsLoadError, list_classes
from tritonctl.sources import pick_state_dict


class Recorder:
    """Wraps handler.model: records each call (args, kwargs, result), forwards everything else."""

    def __init__(self, model):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "calls", [])

    def __call__(self, *args, **kwargs):
        result = self._model(*args, **kwargs)
        self.calls.append((args, kwargs, result))
        return result

    def forward(self, *args, **kwargs):
        return self(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def _tensors(value):
    """(structure, [tensors]) or (None, reason)."""
    import torch

    if isinstance(value, torch.Tensor):
        return "tensor", [value]
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return ("tuple" if isinstance(value, tuple) else "list"), list(value)
    kinds = type(value).__name__ if not isinstance(value, (tuple, list)) else "/".join(sorted({type(v).__name__ for v in value}))
    return None, kinds


def _control_flow(handler) -> str | None:
    from ts.torch_handler.base_handler import BaseHandler

    method = type(handler).inference
    if method is BaseHandler.inference:
        return None
    # ts's @timed wrapper hides the method (no functools.wraps): its closure holds the real one.
    while getattr(method, "__qualname__", "").startswith("timed.") and getattr(method, "__closure__", None):
        method = next(c.cell_contents for c in method.__closure__ if callable(c.cell_contents))
    try:
        src = textwrap.dedent(inspect.getsource(method))
    except (OSError, TypeError):
        return "inference() is overridden and its source cannot be read"
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.For, ast.While, ast.Try, ast.IfExp, ast.ListComp, ast.GeneratorExp)):
            return f"inference() has control flow ({type(node).__name__} at line {node.lineno} of the method)"
    return None


def _same(a, b) -> bool:
    import torch

    return a is b or (a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b))


def _spec(tensors_per_sample: list[list], names: str) -> list[dict]:
    specs = []
    for i, group in enumerate(zip(*tensors_per_sample)):
        shapes = [list(t.shape[1:]) for t in group]
        dims = [d if all(len(s) == len(shapes[0]) and s[k] == d for s in shapes) else -1 for k, d in enumerate(shapes[0])]
        if any(len(s) != len(shapes[0]) for s in shapes):
            raise ValueError(f"{names} {i} has a different rank per sample: {shapes}")
        specs.append({"dtype": TORCH_TO_SPEC.get(str(group[0].dtype), str(group[0].dtype)), "shape": dims,
                      "observed": shapes})
    return specs


def analyse(req: dict) -> dict:
    import torch

    model_dir, name, body_as = req["model_dir"], req["model_name"], req["body_as"]
    samples = [base64.b64decode(s) for s in req["samples"]]
    groups = [[base64.b64decode(s) for s in g] for g in req.get("candidate_groups", [])]
    try:
        full = HandlerHost(model_dir, name, batch_size=req["batch_size"], load_model=True, body_as=body_as)
    except WeightsLoadError as exc:
        return {"error": str(exc), "kind": "weights"}
    except HandlerLoadError as exc:
        return {"error": str(exc), "kind": "handler"}
    # The samples: the user's, else the first built-in candidate the handler answers.
    sample_errors = []
    if not samples:
        for group in groups:  # two of a kind (sizes, lengths): dims that differ between them are dynamic
            try:
                for c in group:
                    full.handle([c])
                samples = group
                break
            except Exception as exc:
                sample_errors.append(f"{type(exc).__name__}: {exc}")
        if not samples:
            return {"error": "the handler answered none of the built-in sample requests (an image, a sentence, JSON): "
                    + "; ".join(sample_errors[:3]), "kind": "sample"}
    references = []
    for s in samples:
        try:
            references.append(full.handle([s])[0])
        except Exception as exc:
            return {"error": f"the handler fails on the sample request: {type(exc).__name__}: {exc}", "kind": "sample",
                    "traceback": traceback.format_exc()}
    result = {"samples": [base64.b64encode(s).decode() for s in samples],
              "responses": [base64.b64encode(r).decode() for r in references], "reasons": []}
    h = full.handler
    reasons = result["reasons"]
    model = getattr(h, "model", None) if h is not None else None
    result["handler_class"] = type(h).__name__ if h is not None else None
    result["torchscript"] = isinstance(model, torch.jit.ScriptModule)
    if h is None:
        reasons.append("the handler is a function entry point: there is no preprocess/postprocess to split")
        return result
    from ts.torch_handler.base_handler import BaseHandler

    if not isinstance(h, BaseHandler):
        reasons.append(f"{type(h).__name__} does not subclass ts BaseHandler")
        return result
    if type(h).handle is not BaseHandler.handle:
        reasons.append("handle() is overridden: what it does around the three steps is kept as it is")
        return result
    if not isinstance(model, torch.nn.Module):
        reasons.append(f"handler.model is a {type(model).__name__}, not a torch.nn.Module to export")
        return result
    flow = _control_flow(h)
    if flow:
        reasons.append(flow)
        return result
    # One batch through the split steps, with the model call recorded. Samples of different sizes
    # may not stack into one batch (VisionHandler stacks its images): then the first one twice.
    for batch in ([samples] if len(samples) > 1 else []) + [[samples[0]] * 2]:
        try:
            pre_out = full.preprocess(batch)
            break
        except Exception as exc:
            failure = exc
    else:
        reasons.append(f"preprocess fails on a batch of two requests ({type(failure).__name__}: {failure})")
        return result
    structure, pre = _tensors(pre_out)
    if structure is None:
        reasons.append(f"preprocess returns {pre}: only tensors can pass from one Triton model to the next")
        return result
    if any(t.dim() == 0 or t.shape[0] != len(batch) for t in pre):
        reasons.append(f"preprocess returns shapes {[list(t.shape) for t in pre]} for {len(batch)} requests, "
                       "not one row per request (a handler that does not batch)")
        return result
    recorder = Recorder(model)
    h.model = recorder
    try:
        inf_out = h.inference(pre_out)
    finally:
        h.model = model
    if len(recorder.calls) != 1:
        reasons.append(f"inference() calls the model {len(recorder.calls)} times")
        return result
    args, kwargs, model_out = recorder.calls[0]
    if kwargs or len(args) != len(pre) or not all(isinstance(a, torch.Tensor) and _same(a, p) for a, p in zip(args, pre)):
        reasons.append("inference() calls the model with inputs of its own, not just what preprocess returned")
        return result
    if structure != "tensor" and len(pre) > 1 and len(args) == 1:
        reasons.append("inference() passes preprocess's tuple as one argument")
        return result
    if inf_out is not model_out:
        reasons.append("inference() changes the model's result before postprocess")
        return result
    out_structure, outs = _tensors(model_out)
    if out_structure is None:
        reasons.append(f"the model returns {outs}, not tensors that an exported model can return")
        return result
    if any(t.dim() == 0 or t.shape[0] != len(batch) for t in outs):
        reasons.append(f"the model returns shapes {[list(t.shape) for t in outs]} for a batch of {len(batch)}")
        return result
    # The pre/post steps as Triton runs them: a copy of the archive without the weights.
    light_dir = Path(tempfile.mkdtemp(prefix="tritonctl-probe-"))
    try:
        shutil.copytree(model_dir, light_dir, dirs_exist_ok=True)
        weights = full.manifest["model"].get("serializedFile")
        if weights:
            (light_dir / weights).unlink(missing_ok=True)
        try:
            light = HandlerHost(str(light_dir), name, batch_size=req["batch_size"], load_model=False, body_as=body_as)
        except Exception as exc:
            reasons.append(f"initialize() needs the weights itself ({exc}), so preprocess/postprocess cannot run "
                           "without the model")
            return result
        try:
            light_pre = light.preprocess(batch)
            _, light_tensors = _tensors(light_pre)
            if light_tensors is None or not all(_same(a, b) for a, b in zip(light_tensors, pre)):
                reasons.append("preprocess gives other tensors when the model is not loaded")
                return result
            with torch.inference_mode():
                split = light.postprocess(model_out, len(batch))
        except Exception as exc:
            reasons.append(f"preprocess/postprocess fail without the model loaded: {type(exc).__name__}: {exc}")
            return result
    finally:
        shutil.rmtree(light_dir, ignore_errors=True)
    whole = full.handle(batch)
    if split != whole:
        reasons.append("preprocess -> model -> postprocess answers differently from handle() on the samples")
        return result
    # The tensor specs, one sample at a time (batch 1), and the outputs.
    per_in, per_out = [], []
    for s in samples:
        _, ins = _tensors(full.preprocess([s]))
        with torch.inference_mode():
            _, o = _tensors(model(*ins))
        per_in.append(ins)
        per_out.append(o)
    result["inputs"], result["outputs"] = _spec(per_in, "input"), _spec(per_out, "output")
    for i, (spec, t) in enumerate(zip(result["inputs"], per_in[0])):
        if not t.is_floating_point() and t.dtype != torch.bool:
            # integer inputs are ids: random parity inputs must stay below the embedding size
            embeddings = [m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)]
            hi = min(embeddings) if embeddings else max(int(g[i].max()) for g in per_in) + 1
            spec["values"] = [0, hi]
    result["structure_in"], result["structure_out"] = structure, out_structure
    # How models.yaml will load the model, checked against the handler's model.
    mf = full.manifest["model"]
    if not result["torchscript"]:
        if not mf.get("modelFile"):
            reasons.append("an eager model without --model-file: models.yaml cannot rebuild it")
            return result
        module = sys.modules.get(mf["modelFile"].rsplit(".", 1)[0])
        classes = [c for c in list_classes(module)] if module else []
        if len(classes) != 1:
            reasons.append(f"the model file defines {len(classes)} classes; TorchServe needs exactly one")
            return result
        result["model_class"] = classes[0].__name__
        if type(model) is not classes[0]:
            reasons.append(f"the handler's model is a {type(model).__name__}, not the model file's {classes[0].__name__}")
            return result
        rebuilt = classes[0]()
        # the build's own reading of the checkpoint (a state_dict or a training checkpoint holding one)
        weights = Path(model_dir) / mf["serializedFile"]
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        rebuilt.load_state_dict(pick_state_dict(state, f"the archive's {weights.name}", rebuilt))
        rebuilt.eval()
        with torch.inference_mode():
            _, again = _tensors(rebuilt(*pre))
        if not all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(again, outs)):
            reasons.append(f"{classes[0].__name__}() + the state_dict gives other outputs than the handler's model "
                           "(the handler builds it differently)")
            return result
    result["split"] = True
    return result


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text())
    try:
        result = analyse(req)
    except Exception as exc:  # the handler's code can fail in any way: report it, with its traceback
        result = {"error": f"{type(exc).__name__}: {exc}", "kind": "handler", "traceback": traceback.format_exc()}
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
