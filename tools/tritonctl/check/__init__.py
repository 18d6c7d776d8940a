"""`tritonctl check`: an offline linter for any Triton model repository.

One module per rule group, each a ``check(repo) -> list[Finding]``:
layout (directories and files), config_rules (config.pbtxt alone), onnx_rules and
torchscript_rules (config against the model file), ensemble_rules (the step graph), drift
(config.pbtxt against models.yaml) and tritonctl.compat (model files against a Triton release).
``model_dirs`` reads the repository as Triton does, with the writer's names (tritonctl.repository).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tritonctl import compat
from tritonctl.finding import ERROR, WARNING, Finding

__all__ = ["Finding", "Report", "check_repository", "ERROR", "WARNING"]


@dataclass
class Report:
    repository: str
    findings: list[Finding] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    release: str | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def to_json(self) -> str:
        return json.dumps({
            "repository": self.repository,
            "release": self.release,
            "models": self.models,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }, indent=2)

    def to_text(self) -> str:
        lines = [str(f) for f in self.findings]
        summary = (f"{self.repository}: {len(self.models)} model(s), {len(self.errors)} error(s), "
                   f"{len(self.warnings)} warning(s)" + (f" (Triton {self.release})" if self.release else ""))
        return "\n".join(lines + [summary])


def check_repository(repo: str | Path, spec: str | Path | None = None, release: str | None = None) -> Report:
    """Run every rule on a repository; `spec` adds the drift check, `release` the compatibility check.

    Raises CheckError when the repository does not exist (or the release is unknown)."""
    from tritonctl.check import config_rules, ensemble_rules, layout, model_dirs, onnx_rules, torchscript_rules

    info = None
    if release is not None:
        info = compat.release_info(release)  # unknown release: fail before any work
    r = model_dirs.load(Path(repo))
    findings = list(r.findings)
    for rules in (layout, config_rules, onnx_rules, torchscript_rules, ensemble_rules):
        findings += rules.check(r)
    from tritonctl.check import python_rules

    findings += python_rules.check(r, info.release if info else None)
    if spec is not None:
        from tritonctl.check import drift

        findings += drift.check(r, Path(spec))
    if info is not None:
        findings += compat.problems_for(r.path, info.release)
    findings.sort(key=lambda f: (f.severity != ERROR, f.file, f.rule))
    return Report(str(repo), findings, sorted(r.models), info.release if info else None)
