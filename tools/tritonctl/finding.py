"""One finding of `tritonctl check`: where, how bad, what is wrong, and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    file: str  # the file (or directory) the finding is about, as the user passed the repository
    severity: str  # "error" (Triton will refuse it) or "warning" (loads, but likely not as meant)
    message: str  # what is wrong
    fix: str  # what to do about it
    rule: str  # rule id, e.g. "layout.version-dir"
    model: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}: {self.severity}: {self.message}\n    fix: {self.fix}  [{self.rule}]"


def error(file, message: str, fix: str, rule: str, model: str | None = None) -> Finding:
    return Finding(str(file), ERROR, message, fix, rule, model)


def warning(file, message: str, fix: str, rule: str, model: str | None = None) -> Finding:
    return Finding(str(file), WARNING, message, fix, rule, model)
