"""Layout: model directories, config.pbtxt, numeric version directories, the model file per backend."""

from __future__ import annotations

from tritonctl.finding import Finding, error, warning
from tritonctl.check.model_dirs import FILE_BACKEND, ModelDir, Repository

def check(repo: Repository) -> list[Finding]:
    out: list[Finding] = []
    if not repo.models:
        out.append(warning(repo.path, "the repository holds no model directories; Triton will serve nothing",
                           "add <model>/config.pbtxt and <model>/1/<model file>, or run `tritonctl build`",
                           "layout.empty"))
    for p in sorted(repo.path.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            out.append(warning(p, "a file at the top of the repository; Triton ignores it (models are directories)",
                               f"move it into a model directory or out of {repo.path}", "layout.stray-file"))
    for m in repo.models.values():
        out += _model(m)
    return out


def _model(m: ModelDir) -> list[Finding]:
    out: list[Finding] = []
    if not m.config_path.is_file():
        files = sorted({f.name for f in m.path.glob("*/*") if f.name in FILE_BACKEND})
        out.append(error(m.config_path, "missing: Triton needs config.pbtxt to know the model's platform/backend, "
                         f"inputs and outputs{f' (found {files})' if files else ''}",
                         f"write {m.config_path} (at least name, platform or backend, max_batch_size, input, output), "
                         "or generate it with `tritonctl build`", "layout.config-missing", m.name))
    for p in sorted(m.path.iterdir()):
        if p.is_dir() and not p.name.isdigit() and not p.name.startswith("."):
            out.append(warning(p, f"'{p.name}' is not a version directory; Triton only loads directories named by "
                               "a number (1, 2, ...)", f"rename it to a number (e.g. {m.path}/1) or move it out",
                               "layout.version-dir", m.name))
    if not m.versions:
        out.append(error(m.path, "no numeric version directory: Triton finds no version to load"
                         + (" (an ensemble needs an empty one)" if m.is_ensemble else ""),
                         f"create {m.path}/1/" + ("" if m.is_ensemble else " and put the model file in it"),
                         "layout.no-version", m.name))
    if m.config is None or m.is_ensemble:
        return out
    names = m.model_filenames()
    if not names:
        return out  # a backend we do not know the default file of
    for v in m.versions:
        if m.model_file(v) is not None:
            continue
        vdir = m.path / str(v)
        present = sorted(f.name for f in vdir.iterdir())
        other = [f for f in present if f in FILE_BACKEND]
        hint = ""
        if other:
            backend = FILE_BACKEND[other[0]]
            hint = (f"; it holds {other[0]}, a {backend} model: set the platform/backend for that "
                    f"or set default_model_filename: \"{other[0]}\" if the name is the only difference")
        out.append(error(vdir / names[0], f"missing: backend '{m.backend}' loads {' or '.join(names)} from each "
                         f"version directory (present: {present or 'nothing'}){hint}",
                         f"put the model file at {vdir / names[0]}, set default_model_filename in {m.config_path}, "
                         f"or remove version {v}", "layout.model-file", m.name))
    return out
