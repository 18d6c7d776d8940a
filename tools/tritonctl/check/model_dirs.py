"""Read a model repository the way Triton does: one directory per model, config.pbtxt parsed by
Triton's own proto, numeric version directories, a default model file per platform/backend.

The reading side of ``tritonctl.repository`` (the writer): the same file names, platform map and
config parser, so check never disagrees with build about what a repository holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tritonctl.finding import Finding, error
from tritonctl.repository import BACKEND_PLATFORM, CONFIG, DEFAULT_MODEL_FILENAME, PLATFORM_BACKEND, versions  # noqa: F401

# Triton's layout names come from the repository writer: what `tritonctl build` writes is what
# `tritonctl check` reads. FILE_BACKEND: files that tell which backend a version directory was built for.
FILE_BACKEND = {v: k for k, v in DEFAULT_MODEL_FILENAME.items()}


@dataclass
class ModelDir:
    name: str
    path: Path
    config: object | None = None  # model_config_pb2.ModelConfig, None when missing or unparsable
    versions: list[int] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def backend(self) -> str | None:
        """The backend Triton would use: `backend`, else the one `platform` maps to."""
        if self.config is None:
            return None
        if self.config.backend:
            return self.config.backend
        return PLATFORM_BACKEND.get(self.config.platform)

    @property
    def is_ensemble(self) -> bool:
        return self.config is not None and self.config.platform == "ensemble"

    def model_filenames(self) -> list[str]:
        """Acceptable model file names in a version directory (default, default_model_filename,
        cc_model_filenames); empty for ensembles, which have no model file."""
        if self.config is None or self.is_ensemble:
            return []
        names = [self.config.default_model_filename or DEFAULT_MODEL_FILENAME.get(self.backend or "", "")]
        names += list(self.config.cc_model_filenames.values())
        return [n for n in dict.fromkeys(names) if n]

    def model_file(self, version: int) -> Path | None:
        """The model file Triton would load for this version, if present."""
        for name in self.model_filenames():
            p = self.path / str(version) / name
            if p.exists():
                # onnxruntime also accepts a directory model.onnx/ holding model.onnx (external data).
                if p.is_dir() and (p / name).is_file():
                    return p / name
                return p
        return None


@dataclass
class Repository:
    path: Path
    models: dict[str, ModelDir]
    findings: list[Finding]  # problems found while reading (parse errors)



def model_files(repo: "Repository", backend: str):
    """(model, model file) for every version of every model served by `backend` whose file exists."""
    for m in repo.models.values():
        if m.config is None or m.backend != backend:
            continue
        for v in m.versions:
            path = m.model_file(v)
            if path is not None and path.is_file():
                yield m, path


def parse_config(path: Path, text: str | None = None):
    """Parse a config.pbtxt with Triton's proto (``tritonctl.config.parse``, the writer's own).
    Returns (config, None) or (None, Finding)."""
    from tritonctl import config

    text = path.read_text() if text is None else text
    try:
        return config.parse(text, str(path)), None
    except config.ConfigParseError as exc:
        if "oneof" in exc.reason:
            fix = ("a model has one scheduler: keep only one of dynamic_batching, sequence_batching, "
                   "ensemble_scheduling (and one of latest/all/specific in version_policy)")
        else:
            fix = ("correct the syntax or field name against Triton's model_config.proto "
                   "(https://github.com/triton-inference-server/common/blob/main/protobuf/model_config.proto)")
        return None, error(exc.where, f"config does not parse: {exc.reason}", fix, "config.parse", path.parent.name)


def load(path: Path) -> Repository:
    from tritonctl.errors import CheckError

    path = Path(path)
    if not path.exists():
        raise CheckError(f"repository {path} does not exist; pass the model repository directory (e.g. model_repository/)")
    if not path.is_dir():
        raise CheckError(f"repository {path} is not a directory; pass the model repository directory, not a file")
    models, findings = {}, []
    for d in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        m = ModelDir(d.name, d)
        m.versions = versions(d)
        if m.config_path.is_file():
            m.config, problem = parse_config(m.config_path)
            if problem:
                findings.append(problem)
        models[d.name] = m
    return Repository(path, models, findings)
