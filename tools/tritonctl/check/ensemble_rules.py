"""Ensembles: every step model present, step tensor names real, every tensor produced once and
consumed, dtypes agreeing along each edge, no cycles, batching compatible with the steps."""

from __future__ import annotations

from tritonctl.finding import Finding, error, warning
from tritonctl.check.model_dirs import ModelDir, Repository


def check(repo: Repository) -> list[Finding]:
    out: list[Finding] = []
    for m in repo.models.values():
        if m.is_ensemble and m.config.HasField("ensemble_scheduling"):
            out += check_ensemble(m, repo)
    return out


def _dtype(t) -> str:
    from tritonclient.grpc import model_config_pb2 as mc

    return mc.DataType.Name(t.data_type)


def check_ensemble(m: ModelDir, repo: Repository) -> list[Finding]:
    cfg, f, out = m.config, m.config_path, []

    def err(msg, fix, rule):
        out.append(error(f, msg, fix, rule, m.name))

    steps = list(cfg.ensemble_scheduling.step)
    if not steps:
        err("ensemble_scheduling has no step", "add at least one step { model_name, input_map, output_map }",
            "ensemble.steps")
        return out
    # tensor -> (dtype, who): the ensemble's inputs first, then what each step produces.
    produced: dict[str, tuple[str | None, str]] = {t.name: (_dtype(t), "ensemble input") for t in cfg.input}
    producer_step: dict[str, int] = {}
    consumed: dict[str, list[int]] = {}
    for i, step in enumerate(steps):
        label = f"step[{i}] ({step.model_name})"
        target = repo.models.get(step.model_name)
        if target is None or target.config is None:
            err(f"{label}: model '{step.model_name}' is not in the repository"
                + (" (or its config.pbtxt is missing or broken)" if target else ""),
                f"add {repo.path / step.model_name}/ or fix model_name; models here: {sorted(repo.models)}",
                "ensemble.step-model")
            target_in, target_out = None, None
        else:
            target_in = {t.name: t for t in target.config.input}
            target_out = {t.name: t for t in target.config.output}
            if step.model_version > 0 and step.model_version not in target.versions:
                err(f"{label}: model_version {step.model_version} does not exist (present: {target.versions})",
                    "use model_version: -1 (latest) or an existing version", "ensemble.step-model")
            if cfg.max_batch_size > 0 and target.config.max_batch_size < cfg.max_batch_size:
                err(f"{label}: the ensemble's max_batch_size {cfg.max_batch_size} exceeds the step model's "
                    f"{target.config.max_batch_size}", f"set the ensemble's max_batch_size <= "
                    f"{target.config.max_batch_size}", "ensemble.batching")
        for step_name, tensor in step.input_map.items():
            consumed.setdefault(tensor, []).append(i)
            if target_in is not None and step_name not in target_in:
                err(f"{label}: input_map key '{step_name}' is not an input of '{step.model_name}' "
                    f"(its inputs: {sorted(target_in)})", f"use one of {sorted(target_in)} as the key",
                    "ensemble.step-tensors")
        for step_name, tensor in step.output_map.items():
            if target_out is not None and step_name not in target_out:
                err(f"{label}: output_map key '{step_name}' is not an output of '{step.model_name}' "
                    f"(its outputs: {sorted(target_out)})", f"use one of {sorted(target_out)} as the key",
                    "ensemble.step-tensors")
            if tensor in produced:
                err(f"{label}: tensor '{tensor}' is already produced by {produced[tensor][1]}",
                    "give each produced tensor a unique ensemble name", "ensemble.tensors")
                continue
            dtype = _dtype(target_out[step_name]) if target_out and step_name in target_out else None
            produced[tensor] = (dtype, label)
            producer_step[tensor] = i
    # Every consumed tensor is produced, dtypes agree along each edge.
    for i, step in enumerate(steps):
        target = repo.models.get(step.model_name)
        target_in = {t.name: t for t in target.config.input} if target and target.config else {}
        for step_name, tensor in step.input_map.items():
            if tensor not in produced:
                err(f"step[{i}] ({step.model_name}) consumes '{tensor}', which no step produces and is not an "
                    "ensemble input", f"map '{tensor}' from an ensemble input or a step's output_map",
                    "ensemble.tensors")
                continue
            have, src = produced[tensor]
            if have and step_name in target_in and _dtype(target_in[step_name]) != have:
                err(f"step[{i}] ({step.model_name}) input '{step_name}' is {_dtype(target_in[step_name])} but "
                    f"'{tensor}' from {src} is {have}", "make the dtypes agree (convert in a Python step "
                    "or change one side's data_type)", "ensemble.dtype")
    for t in cfg.output:
        if t.name not in produced:
            err(f"ensemble output '{t.name}' is produced by no step", f"map a step output to '{t.name}' in an "
                "output_map", "ensemble.tensors")
        elif produced[t.name][0] and produced[t.name][0] != _dtype(t):
            err(f"ensemble output '{t.name}' is {_dtype(t)} but {produced[t.name][1]} produces "
                f"{produced[t.name][0]}", f"set data_type: {produced[t.name][0]} on output '{t.name}'",
                "ensemble.dtype")
    outputs = {t.name for t in cfg.output}
    for tensor, (_, src) in produced.items():
        if tensor not in consumed and tensor not in outputs:
            out.append(warning(f, f"tensor '{tensor}' from {src} is never used", "consume it in a step, "
                               "make it an ensemble output, or drop it from the output_map", "ensemble.unused",
                               m.name))
    cycle = _cycle(steps, producer_step)
    if cycle:
        err("the steps form a cycle: " + " -> ".join(f"step[{i}] ({steps[i].model_name})" for i in cycle),
            "an ensemble is a DAG: break the cycle so no step consumes (directly or not) its own output",
            "ensemble.cycle")
    return out


def _cycle(steps, producer_step: dict[str, int]) -> list[int] | None:
    edges = {i: sorted({producer_step[t] for t in s.input_map.values() if t in producer_step})
             for i, s in enumerate(steps)}
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done

    def visit(i, path):
        state[i] = 1
        for j in edges[i]:
            if state.get(j) == 1:
                return path[path.index(j):] + [j]
            if j not in state:
                found = visit(j, path + [j])
                if found:
                    return found
        state[i] = 2
        return None

    for i in edges:
        if i not in state:
            found = visit(i, [i])
            if found:
                return found
    return None
