"""What a Triton release can load: ONNX Runtime (and so the highest ONNX opset/IR), libtorch,
TensorRT. The table is data/triton_releases.yaml, with its sources and how sure each value is.

    release_info("25.01")              # also "25.01-py3", "nvcr.io/nvidia/tritonserver:25.01-py3", "2.54.0"
    problems_for("model_repository", "24.10")   # -> [Finding, ...]

ONNX: opset_import and ir_version are read from the file and compared with the release's ONNX
Runtime: reliable, it is what onnxruntime checks when it loads a model.

TorchScript: an archive does not record which torch saved it. Its `version` record is the file
*format* version (3 unless an operator with an upgrader bumps it, at most 10 = 0xA since torch 1.11),
so it only proves loadability when it exceeds what the release reads. The producing torch is known
when the build wrote it (`<version>/build.json` "torch", written by `tritonctl build`) or the caller
passes `producer_torch`; then a torch newer than the release's libtorch is a warning, because
TorchScript is not forward compatible (new operators or schemas fail at load) while simple models
often load fine. Without a build record the archive's `byteorder` record only proves torch >= 2.1.
"""

from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tritonctl.errors import CheckError
from tritonctl.finding import Finding, error, warning
from tritonctl.repository import BUILD_RECORD, CONFIG, read_record

DATA = Path(__file__).parent / "data" / "triton_releases.yaml"


@dataclass(frozen=True)
class ReleaseInfo:
    release: str  # "24.10", the NGC image tag's yy.mm
    triton: str  # "2.51.0"
    upstream: str  # NGC container the backends were built from
    onnxruntime: str
    onnxruntime_status: str
    max_onnx_opset: int
    max_ml_opset: int
    max_ir_version: int
    libtorch: str  # "2.5" (major.minor)
    libtorch_status: str  # verified | derived | assumed
    tensorrt: str | None
    torchscript_max_file_format: int
    sources: tuple[str, ...]
    note: str = ""
    python: str = ""  # "3.10": the python3 of the -py3 image, which runs Python-backend models
    python_status: str = ""

    @property
    def image(self) -> str:
        return f"nvcr.io/nvidia/tritonserver:{self.release}-py3"


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", str(v))[:3])


@functools.lru_cache(maxsize=1)
def table() -> dict:
    import yaml

    return yaml.safe_load(DATA.read_text())


def _resolve_source(src: str, release: str) -> str:
    key, _, arg = src.partition(":")
    template = table()["sources"].get(key, src)
    yy, mm = release.split(".")
    return template.format(tag=arg, yy=yy, mm=mm) if key in table()["sources"] else src


def ort_row(version: str) -> dict | None:
    mm = ".".join(str(version).split(".")[:2])
    return next((r for r in table()["onnxruntime"] if r["version"] == mm), None)


def known_releases() -> list[str]:
    return [r["release"] for r in table()["releases"]]


def normalize(release: str) -> str:
    """'25.01', '25.01-py3', 'nvcr.io/nvidia/tritonserver:25.01-py3' or a Triton version '2.54.0' -> '25.01'."""
    s = str(release).strip().rsplit(":", 1)[-1]
    m = re.match(r"^(\d{2})\.(\d{2})(?:[-.].*)?$", s)
    if m:
        return f"{m.group(1)}.{m.group(2)}"
    for r in table()["releases"]:
        if str(r["triton"]) == s:
            return r["release"]
    return s


def release_info(release: str) -> ReleaseInfo:
    name = normalize(release)
    row = next((r for r in table()["releases"] if r["release"] == name), None)
    if row is None:
        raise CheckError(
            f"Triton release '{release}' is not in {DATA.name}; known: {', '.join(known_releases())}. "
            f"Add a row with its sources (Triton's compatibility.md and release notes) to {DATA}"
        )
    ort = ort_row(row["onnxruntime"]) or {}
    return ReleaseInfo(
        release=name,
        triton=str(row["triton"]),
        upstream=str(row["upstream"]),
        onnxruntime=str(row["onnxruntime"]),
        onnxruntime_status=ort.get("status", "unknown"),
        max_onnx_opset=int(row["max_onnx_opset"]),
        max_ml_opset=int(ort.get("max_ml_opset", 1)),
        max_ir_version=int(row["max_ir_version"]),
        libtorch=str(row["libtorch"]),
        libtorch_status=row["libtorch_status"],
        tensorrt=None if row.get("tensorrt") is None else str(row["tensorrt"]),
        torchscript_max_file_format=int(table()["torchscript_max_file_format"]),
        sources=tuple(_resolve_source(s, name) for s in row["sources"]),
        note=row.get("note", ""),
        **_python_of(name),
    )


def _python_of(release: str) -> dict:
    rows = [r for r in table().get("python", []) if _version_tuple(r["from"]) <= _version_tuple(release)]
    row = max(rows, key=lambda r: _version_tuple(r["from"]), default=None)
    return {"python": row["python"], "python_status": row["status"]} if row else {}


def local_release() -> str:
    """The Triton release of the local server (nvidia-pytriton's tritonserver): the default target."""
    return str(table()["local_release"])


def image_python_modules() -> set[str]:
    """Top-level modules a Python model finds in the -py3 image besides the standard library."""
    return set(table().get("python_image_modules", []))


def _first_release(pred) -> str | None:
    return next((r for r in known_releases() if pred(release_info(r))), None)


# ---------------------------------------------------------------- ONNX


def onnx_problems(path: Path, info: ReleaseInfo, model: str | None = None) -> list[Finding]:
    import onnx

    out: list[Finding] = []
    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001
        return [error(path, f"not a readable ONNX model: {exc}", "re-export it", "compat.onnx", model)]
    sure = "" if info.onnxruntime_status == "verified" else f" (ONNX Runtime {info.onnxruntime}'s opset support is {info.onnxruntime_status} in {DATA.name})"
    for imp in m.opset_import:
        domain = imp.domain or "ai.onnx"
        limit = {"ai.onnx": info.max_onnx_opset, "ai.onnx.ml": info.max_ml_opset}.get(domain)
        if limit is not None and imp.version > limit:
            later = _first_release(lambda r, d=domain, v=imp.version: (r.max_onnx_opset if d == "ai.onnx" else r.max_ml_opset) >= v)
            out.append(error(path, f"opset {imp.version} of domain {domain} is newer than Triton {info.release} "
                             f"(ONNX Runtime {info.onnxruntime}) can load: at most {limit}{sure}",
                             f"re-export with opset <= {limit} (models.yaml: onnx: {{opset: {limit}}})"
                             + (f", or serve with Triton >= {later}" if later else ""), "compat.onnx-opset", model))
    if m.ir_version > info.max_ir_version:
        later = _first_release(lambda r: r.max_ir_version >= m.ir_version)
        out.append(error(path, f"ONNX IR version {m.ir_version} is newer than ONNX Runtime {info.onnxruntime} "
                         f"(Triton {info.release}) reads: at most {info.max_ir_version}{sure}",
                         f"re-export with an onnx package whose IR version is <= {info.max_ir_version} (or "
                         f"onnx.version_converter / set model.ir_version after checking)"
                         + (f", or serve with Triton >= {later}" if later else ""), "compat.onnx-ir", model))
    return out


# ---------------------------------------------------------------- TorchScript


def torchscript_record(path: Path) -> dict:
    """What a TorchScript zip says about itself: format version, records present."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        prefix = names[0].split("/", 1)[0] if names else ""
        version = None
        for candidate in (f"{prefix}/.data/version", f"{prefix}/version"):
            if candidate in names:
                version = int(z.read(candidate).decode().strip() or 0)
                break
        return {
            "format_version": version,
            "byteorder": f"{prefix}/byteorder" in names,
            "has_code": any(n.startswith(f"{prefix}/code/") for n in names),
        }


def producer_torch_of(path: Path) -> tuple[str | None, str]:
    """The torch that saved the file, and where that came from; (None, reason) when unknown."""
    torch_version = (read_record(path.parent) or {}).get("torch")
    if torch_version:
        return str(torch_version), str(path.parent / BUILD_RECORD)
    return None, f"no {BUILD_RECORD} beside the file (TorchScript archives do not record their torch version)"


def torchscript_problems(path: Path, info: ReleaseInfo, producer_torch: str | None = None,
                         model: str | None = None) -> list[Finding]:
    out: list[Finding] = []
    try:
        rec = torchscript_record(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [error(path, f"not a TorchScript archive (zip): {exc}", "save with torch.jit.save", "compat.torchscript", model)]
    if not rec["has_code"]:
        out.append(error(path, "no code/ in the archive: this is a torch.save checkpoint, not TorchScript; "
                         "libtorch cannot run it", "export with torch.jit.trace/script and torch.jit.save",
                         "compat.torchscript", model))
    fv = rec["format_version"]
    if fv is not None and fv > info.torchscript_max_file_format:
        out.append(error(path, f"TorchScript file format version {fv} is newer than libtorch {info.libtorch} "
                         f"(Triton {info.release}) reads (at most {info.torchscript_max_file_format})",
                         f"save with torch {info.libtorch}", "compat.torchscript-format", model))
    source = "caller"
    if producer_torch is None:
        producer_torch, source = producer_torch_of(path)
    if producer_torch is None:
        return out
    produced, served = _version_tuple(producer_torch)[:2], _version_tuple(info.libtorch)[:2]
    if produced > served:
        later = _first_release(lambda r: _version_tuple(r.libtorch)[:2] >= produced)
        sure = "" if info.libtorch_status in ("verified", "derived") else f" ({info.libtorch_status} in {DATA.name})"
        out.append(warning(path, f"saved by torch {producer_torch} (from {source}), newer than libtorch "
                           f"{info.libtorch}{sure} in Triton {info.release}: TorchScript is not forward compatible, "
                           "operators or schemas added since fail at load", f"export with torch=={info.libtorch}.*, "
                           "serve the ONNX export instead" + (f", or use Triton >= {later}" if later else
                           " (no known release ships that torch yet)"), "compat.torchscript-torch", model))
    return out


# ---------------------------------------------------------------- repository / model / file


def problems_for(path: str | Path, release: str, producer_torch: str | None = None) -> list[Finding]:
    """Compatibility findings for a repository, one model directory, or one model file."""
    info = release_info(release)
    path = Path(path)
    if not path.exists():
        raise CheckError(f"{path} does not exist; pass a model repository, a model directory or a model file")
    if path.is_file():
        return _file_problems(path, info, producer_torch, None)
    model_dirs = [path] if (path / CONFIG).is_file() or any(p.name.isdigit() for p in path.iterdir() if p.is_dir()) \
        else sorted(p for p in path.iterdir() if p.is_dir())
    out: list[Finding] = []
    for d in model_dirs:
        for f in sorted(d.glob("[0-9]*/*")):
            out += _file_problems(f, info, producer_torch, d.name)
    return out


def _file_problems(f: Path, info: ReleaseInfo, producer_torch, model) -> list[Finding]:
    if f.is_dir() and f.suffix == ".onnx" and (f / f.name).is_file():
        f = f / f.name
    if f.suffix == ".onnx" and f.is_file():
        return onnx_problems(f, info, model)
    if f.suffix == ".pt" and f.is_file():
        return torchscript_problems(f, info, producer_torch, model)
    return []
