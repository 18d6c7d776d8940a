"""ONNX models against their config: tensor names, dtypes, shapes and the batch dimension.

Read with onnx.load (no external data), so it is cheap and needs no onnxruntime session."""

from __future__ import annotations

from tritonctl.finding import Finding, error
from tritonctl.check.model_dirs import ModelDir, Repository, model_files
from tritonctl.exporters.torch2onnx import onnx_dims
from tritonctl.wire.dtypes import ONNX_TO_TRITON



def check(repo: Repository) -> list[Finding]:
    return [f for m, path in model_files(repo, "onnxruntime") for f in check_model(m, path)]


def check_model(m: ModelDir, path) -> list[Finding]:
    import onnx
    from tritonclient.grpc import model_config_pb2 as mc

    out: list[Finding] = []
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
        return [error(path, f"not a readable ONNX model: {exc}", "re-export the model (tritonctl build) or "
                      "replace the file", "onnx.load", m.name)]
    cfg = m.config
    inits = {i.name for i in model.graph.initializer}
    graph_in = {i.name: i for i in model.graph.input if i.name not in inits}
    graph_out = {o.name: o for o in model.graph.output}
    batching = cfg.max_batch_size > 0

    def err(msg, fix, rule="onnx.io"):
        out.append(error(m.config_path, f"{msg} ({path.name} of version {path.parent.name})", fix, rule, m.name))

    for kind, tensors, graph in (("input", cfg.input, graph_in), ("output", cfg.output, graph_out)):
        for t in tensors:
            vi = graph.get(t.name)
            if vi is None:
                err(f"{kind} '{t.name}' is not a graph {kind} of the model; the model's {kind}s are {sorted(graph)}",
                    f"rename the config {kind} to one of {sorted(graph)} (names must match the ONNX graph exactly)")
                continue
            elem = onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type)
            want = ONNX_TO_TRITON.get(elem)
            have = mc.DataType.Name(t.data_type)
            if want and have != want:
                err(f"{kind} '{t.name}' is {have} in the config but {elem} ({want}) in the model",
                    f"set data_type: {want} for '{t.name}'", "onnx.dtype")
            _shape(m, kind, t, onnx_dims(vi), batching, err)
    missing = sorted(set(graph_in) - {t.name for t in cfg.input})
    if missing and len(cfg.input):
        err(f"the model needs inputs {missing} that the config does not declare; Triton refuses the model",
            f"declare {missing} under input (name, data_type, dims)")
    return out


def _shape(m, kind, t, model_dims, batching, err) -> None:
    """Reports through `err`: the config dims against the model's, batch dim first."""
    if model_dims is None:
        return  # the model does not state a shape
    cfg_dims = list(t.reshape.shape) if t.HasField("reshape") else list(t.dims)
    if batching:
        if len(model_dims) == 0:
            err(f"{kind} '{t.name}' is a scalar in the model but max_batch_size is {m.config.max_batch_size}, "
                "which needs a leading batch dim", "export with a batch dim, or set max_batch_size: 0",
                "onnx.batch-dim")
            return
        first = model_dims[0]
        if isinstance(first, int) and first > 0:
            err(f"{kind} '{t.name}' has a fixed first dim {first} in the model but max_batch_size is "
                f"{m.config.max_batch_size}: Triton needs that dim to be the dynamic batch dim",
                "export with a dynamic batch dim (torch.onnx.export(..., dynamic_axes={name: {0: 'batch'}})), "
                f"or set max_batch_size: 0 and dims: {[d if isinstance(d, int) and d > 0 else -1 for d in model_dims]}",
                "onnx.batch-dim")
            return
        model_dims = model_dims[1:]
    if len(model_dims) != len(cfg_dims):
        full = [-1 if not isinstance(d, int) else d for d in model_dims]
        err(f"{kind} '{t.name}' has dims {cfg_dims} in the config but rank {len(model_dims)} {full} in the model"
            + (" (after the batch dim)" if batching else ""),
            f"set dims: {full}" + (" (the batch dim is implied by max_batch_size)" if batching else ""),
            "onnx.shape")
        return
    for i, (c, d) in enumerate(zip(cfg_dims, model_dims)):
        if isinstance(d, int) and d > 0 and c != d:
            full = [-1 if not isinstance(x, int) or x <= 0 else x for x in model_dims]
            err(f"{kind} '{t.name}' dim {i} is {c} in the config but {d} in the model",
                f"set dims: {full}", "onnx.shape")
            break
