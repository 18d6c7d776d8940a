"""Write a tune winner back: a surgical models.yaml patch (comments kept) and config.pbtxt.

models.yaml is edited as text, inside the winner's ``- name: MODEL`` block only: the keys
``max_batch_size``, ``dynamic_batching``, ``instance_groups``, ``parameters`` (when the sweep
tried thread counts), ``serve`` (when the winning format is not the served one) and ``warmup``
(when batch sizes above the winner's max batch are dropped, by the rule the sweep served with:
``candidates.fit_warmup_sizes``) are replaced where they are, or added at the end of the block, in
YAML flow style. The patched text is validated with the spec loader before anything is written.
The repository configs are then regenerated from the patched spec through ``tritonctl.config``
(``model_config_pb2`` + ``text_format``), so ``tritonctl check``'s drift check stays clean, and
published by the repository writer (``tritonctl.repository``), which also writes models.yaml.
A tuned ``max_batch_size`` changes config.pbtxt only: the next ``tritonctl build`` keeps the
exported versions unless the artifact depends on it (``build.artifact_depends_on_max_batch_size``).
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from pathlib import Path

import yaml

from tritonctl.tune.candidates import Candidate, TuneError, fit_warmup_sizes


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("...").strip()  # a bare scalar ends its document with '...'



def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def desired_values(raw_model: dict, cand: Candidate) -> dict:
    """The values the winner gives each key, merged with what the model's entry already says."""
    db = raw_model.get("dynamic_batching")
    db = dict(db) if isinstance(db, dict) else {}
    db["preferred_batch_size"] = list(cand.preferred_batch_size)
    db["max_queue_delay_microseconds"] = cand.max_queue_delay_microseconds
    groups = raw_model.get("instance_groups")
    groups = [dict(g) for g in groups] if isinstance(groups, list) and groups else [{}]
    groups[0]["count"] = cand.instance_count
    groups = groups[:1]
    values = {"max_batch_size": cand.max_batch_size, "dynamic_batching": db, "instance_groups": groups}
    if "instance_groups" not in raw_model and cand.instance_count == 1:
        del values["instance_groups"]  # the default already; keep the diff small
    if cand.threads is not None:
        params = raw_model.get("parameters")
        params = dict(params) if isinstance(params, dict) else {}
        params[cand.thread_parameter] = str(cand.threads)
        values["parameters"] = params
    formats = raw_model.get("formats") or ["onnx"]
    serve = raw_model.get("serve") or formats[0]
    if cand.format != serve:
        values["serve"] = cand.format
    warmup = raw_model.get("warmup")
    if isinstance(warmup, dict) and isinstance(warmup.get("batch_sizes"), list):
        kept, dropped = fit_warmup_sizes(warmup["batch_sizes"], cand.max_batch_size)
        if dropped:
            values["warmup"] = {**warmup, "batch_sizes": kept}
    return values


def warmup_note(model_spec, cand: Candidate) -> str:
    """The report line for warm-up sizes the winner drops (empty when they all fit)."""
    from tritonctl.spec import Warmup

    sizes = model_spec.warmup.batch_sizes if isinstance(model_spec.warmup, Warmup) else []
    kept, dropped = fit_warmup_sizes(sizes, cand.max_batch_size)
    if not dropped:
        return ""
    what = f"warm-up batch size{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))} dropped"
    return (f"{what}: above the winner's max_batch_size {cand.max_batch_size} (Triton refuses to load a larger "
            f"warm-up; the sweep served every candidate by the same rule); it warms up at {kept}")


def by_hand(model: str, values: dict) -> str:
    """What to set in models.yaml when tune cannot: ``key: value`` in the flow style the patch uses."""
    return (f"set these under '- name: {model}' in models.yaml by hand: "
            + "; ".join(f"{k}: {_flow(v)}" for k, v in values.items()))


def patch_text(text: str, model: str, values: dict) -> str:
    """Replace or add ``key: value`` lines inside ``model``'s block of models.yaml."""
    lines = text.splitlines(keepends=True)
    head = re.compile(r"^(\s*)-(\s+)name:\s*['\"]?" + re.escape(model) + r"['\"]?\s*(#.*)?$")
    start = next((i for i, ln in enumerate(lines) if head.match(ln.rstrip("\n"))), None)
    if start is None:
        raise TuneError(f"models.yaml has no block starting with '- name: {model}'; " + by_hand(model, values))
    m = head.match(lines[start].rstrip("\n"))
    item_indent = len(m.group(1))
    key_indent = item_indent + 1 + len(m.group(2))
    end = len(lines)
    for j in range(start + 1, len(lines)):
        if _is_content(lines[j]) and _indent(lines[j]) <= item_indent:
            end = j
            break
    while end - 1 > start and not _is_content(lines[end - 1]):
        end -= 1  # comments and blanks before the next entry belong to it
    newline = "\n" if not lines[start].endswith("\r\n") else "\r\n"
    for key, value in values.items():
        rendered = " " * key_indent + f"{key}: {_flow(value)}"
        key_re = re.compile(r"^ {%d}%s\s*:" % (key_indent, re.escape(key)))
        at = next((k for k in range(start + 1, end) if key_re.match(lines[k])), None)
        if at is None:
            lines.insert(end, rendered + newline)
            end += 1
            continue
        stop = at + 1
        while stop < end and (not _is_content(lines[stop]) or _indent(lines[stop]) > key_indent):
            stop += 1
        while stop - 1 > at and not _is_content(lines[stop - 1]):
            stop -= 1
        comment = ""
        if stop == at + 1:
            cm = re.search(r"\s+#[^'\"\]}]*$", lines[at].rstrip("\r\n"))
            comment = cm.group(0) if cm else ""
        lines[at:stop] = [rendered + comment + newline]
        end -= stop - at - 1
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines)


def unified_diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def _load_spec_text(text: str, like: Path):
    """Validate ``text`` as models.yaml living where ``like`` lives (relative paths resolve the same)."""
    from tritonctl import spec as spec_mod
    from tritonctl.errors import SpecError

    fd, tmp = tempfile.mkstemp(prefix=".tune-", suffix=".yaml", dir=str(like.parent))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            spec = spec_mod.load(tmp)
        except SpecError as exc:  # name the user's file, not the scratch copy
            raise SpecError(str(exc).replace(tmp, str(like))) from None
        spec.path = like
        return spec
    finally:
        os.unlink(tmp)


def plan_models_yaml(spec_path: Path, model: str, cand: Candidate) -> tuple[str, str, object]:
    """(old text, patched text, patched spec); raises TuneError when the patch would not validate."""
    from tritonctl.errors import SpecError

    old = spec_path.read_text()
    raw = yaml.safe_load(old) or {}
    entry = next((m for m in raw.get("models") or [] if isinstance(m, dict) and m.get("name") == model), None)
    if entry is None:
        raise TuneError(f"{spec_path}: no model named '{model}'; "
                        + by_hand(model, desired_values({}, cand)))
    values = desired_values(entry, cand)
    new = patch_text(old, model, values)
    try:
        spec = _load_spec_text(new, spec_path)
    except SpecError as exc:
        raise TuneError(f"the tuned values do not validate, nothing written: {exc}; fix what it "
                        f"names, then {by_hand(model, values)}") from None
    m = spec.model(model)
    got = (m.max_batch_size, m.instance_groups[0].count)
    want_threads = None if cand.threads is None else str(cand.threads)
    threads = want_threads and m.parameters.get(cand.thread_parameter)
    if got != (cand.max_batch_size, cand.instance_count) or m.serve != cand.format or threads != want_threads:
        raise TuneError(f"internal: patched {spec_path} reads back as {got}, serve {m.serve}, threads {threads}; "
                        "not written")
    return old, new, spec


def repository_configs(spec, model: str) -> dict[str, str]:
    """served name -> config.pbtxt text for every published format of ``model`` in ``spec``."""
    from tritonctl import config

    m = spec.model(model)
    return {m.served_name(fmt): config.to_text(config.model_config(m, fmt)) for fmt in m.formats}


def write_repository(repo: Path, configs: dict[str, str]) -> list[Path]:
    """Publish each config.pbtxt through the repository writer (``repository.publish``: atomic,
    versions untouched) for models whose directory exists; returns the paths written."""
    from tritonctl import repository

    written = []
    for name, text in configs.items():
        d = Path(repo) / name
        if not d.is_dir():
            raise TuneError(
                f"{d} does not exist: the repository needs a build: `tritonctl build` (models.yaml is "
                "already updated; the build writes its config.pbtxt)"
            )
        repository.publish(Path(repo), name, text, None)
        written.append(d / repository.CONFIG)
    return written
