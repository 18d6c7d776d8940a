"""Triton's own load generator, perf_analyzer, for cross-checking ``tritonctl bench``.

perf_analyzer (C++) ships inside the ``tritonclient==2.41.0`` wheel as
``tritonclient-2.41.0.data/data/bin/perf_analyzer``. ``ensure_installed`` downloads that wheel
with pip (no other package is touched), unpacks the binary into ``.tritonctl/perf_analyzer/``
and links the two libraries it needs under the names it asks for, from the
``nvidia_pytriton.libs/`` folder of the nvidia-pytriton wheel::

    libb64.so.0d     <- nvidia_pytriton.libs/libb64-<hash>.so.0d
    libcudart.so.12  <- nvidia_pytriton.libs/libcudart-<hash>.so.12.*

``run`` then calls it with ``LD_LIBRARY_PATH`` pointing there, one concurrency level per call,
with the same window and stability rule as ``tritonctl bench``, and parses its CSV (-f) and, from
its console summary, the server's side (``parse_server``: inference / execution / request counts
and the request latency split into overhead, queue, compute input, compute infer, compute output).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tritonctl.errors import ClientError
from tritonctl.statedir import DEFAULT_STATE_DIR
from tritonctl.wire.shapes import DYNAMIC_DIM
from tritonctl.wire.stats import Breakdown

WHEEL_VERSION = "2.41.0"
MEMBER = f"tritonclient-{WHEEL_VERSION}.data/data/bin/perf_analyzer"
LIBS = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}


@dataclass(frozen=True)
class PerfAnalyzer:
    binary: Path
    libdir: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.libdir), env.get("LD_LIBRARY_PATH", "")) if p)
        return env


def pytriton_libs() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ClientError(
            "perf_analyzer needs libb64 and libcudart from the nvidia-pytriton wheel, which is not installed; "
            "run `make install` (or pip install nvidia-pytriton==0.7.0)"
        )
    libs = Path(list(spec.submodule_search_locations)[0]).parent / "nvidia_pytriton.libs"
    if not libs.is_dir():
        raise ClientError(f"{libs} is missing; reinstall nvidia-pytriton==0.7.0")
    return libs


def _link_libs(libdir: Path) -> None:
    src = pytriton_libs()
    libdir.mkdir(parents=True, exist_ok=True)
    for name, pattern in LIBS.items():
        found = sorted(src.glob(pattern))
        if not found:
            raise ClientError(f"no {pattern} in {src}; perf_analyzer needs it as {name} (reinstall nvidia-pytriton)")
        link = libdir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(found[0])


def ensure_installed(state_dir: str | Path = DEFAULT_STATE_DIR, pip: list[str] | None = None) -> PerfAnalyzer:
    """perf_analyzer under ``<state_dir>/perf_analyzer/``, downloading the wheel once."""
    dest = Path(state_dir) / "perf_analyzer"
    binary, libdir = dest / "perf_analyzer", dest / "lib"
    if not binary.exists():
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            cmd = (pip or [sys.executable, "-m", "pip"]) + [
                "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", tmp,
                f"tritonclient=={WHEEL_VERSION}",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob(f"tritonclient-{WHEEL_VERSION}-*manylinux*.whl"))
            if proc.returncode != 0 or not wheels:
                raise ClientError(
                    f"could not download tritonclient=={WHEEL_VERSION} (it carries perf_analyzer): "
                    f"{(proc.stderr or proc.stdout).strip()[-400:]}; check access to the package index"
                )
            with zipfile.ZipFile(wheels[0]) as z:
                try:
                    data = z.read(MEMBER)
                except KeyError:
                    raise ClientError(f"{wheels[0].name} has no {MEMBER}") from None
            part = binary.with_suffix(".part")
            part.write_bytes(data)
            part.chmod(part.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            os.replace(part, binary)
    _link_libs(libdir)
    return PerfAnalyzer(binary.resolve(), libdir.resolve())


@dataclass
class PaResult:
    concurrency: int
    infer_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    stable: bool
    output: str = ""
    stability_pct: float = 10.0
    server: Breakdown | None = None  # perf_analyzer's "Server:" summary of the same measurement


_SERVER_COUNTS = {k: re.compile(rf"^\s*{k}:\s*(\d+)", re.M) for k in (
    "Inference count", "Execution count", "Successful request count")}
_SERVER_LATENCY = re.compile(
    r"Avg request latency:\s*(\d+) usec \(overhead (\d+) usec \+ queue (\d+) usec \+ compute input (\d+) usec "
    r"\+ compute infer (\d+) usec \+ compute output (\d+) usec\)")


def parse_server(text: str, model: str = "", version: str = "") -> Breakdown | None:
    """perf_analyzer's console summary -> the server's breakdown of its last measurement (None when absent).

    perf_analyzer prints, per level::

        Server:
          Inference count: 3045
          Execution count: 3045
          Successful request count: 3045
          Avg request latency: 885 usec (overhead 33 usec + queue 300 usec + compute input 27 usec +
                                         compute infer 436 usec + compute output 87 usec)

    (one line). Its overhead is what the four parts leave of the request latency, as ours.
    """
    lat = _SERVER_LATENCY.findall(text)
    counts = {k: r.findall(text) for k, r in _SERVER_COUNTS.items()}
    if not lat or not all(counts.values()):
        return None
    request, _overhead, queue, cin, cinf, cout = (int(v) / 1000.0 for v in lat[-1])
    return Breakdown(model, version, requests=int(counts["Successful request count"][-1]), failures=0,
                     inferences=int(counts["Inference count"][-1]), executions=int(counts["Execution count"][-1]),
                     request_ms=request, queue_ms=queue, compute_input_ms=cin, compute_infer_ms=cinf,
                     compute_output_ms=cout)


_CLIENT_AVG = re.compile(r"^\s*Avg latency:\s*(\d+) usec", re.M)


def parse_client_avg_ms(text: str) -> float:
    """The client's average latency of the last measurement ("Avg latency: N usec"), ms; nan when absent."""
    found = _CLIENT_AVG.findall(text)
    return int(found[-1]) / 1000.0 if found else float("nan")


def _shape_args(config: dict, dynamic_dim: int) -> list[str]:
    args = []
    for inp in config.get("input", []):
        dims = [int(d) for d in inp.get("dims", [])]
        dtype = str(inp.get("data_type", ""))
        if dtype in ("TYPE_STRING", "BYTES", "TYPE_BYTES"):
            raise ClientError(
                f"model '{config.get('name')}' input {inp['name']} is BYTES (encoded images): the cross-check "
                "with perf_analyzer covers tensor models; pick e.g. linear or digits"
            )
        if any(d < 0 for d in dims):
            args += ["--shape", f"{inp['name']}:" + ",".join(str(dynamic_dim if d < 0 else d) for d in dims)]
    if any("INT" in str(i.get("data_type", "")) for i in config.get("input", [])):
        # perf_analyzer's random integers span the whole type (out of range for token ids): zeros are valid
        args += ["--input-data", "zero"]
    return args


def command(pa: PerfAnalyzer, model: str, url: str, protocol: str, concurrency: int, *, batch_size: int = 1,
            window_ms: int = 2000, stability_pct: float = 10.0, max_trials: int = 10, shape_args=(),
            csv_path: Path | None = None) -> list[str]:
    cmd = [str(pa.binary), "-m", model, "-u", url, "-i", protocol, "-b", str(batch_size),
           "--concurrency-range", f"{concurrency}:{concurrency}", "--measurement-interval", str(int(window_ms)),
           "--stability-percentage", str(stability_pct), "--max-trials", str(max_trials)]
    cmd += list(shape_args)
    if csv_path:
        cmd += ["-f", str(csv_path)]
    return cmd


def run(pa: PerfAnalyzer, model: str, url: str, protocol: str, concurrencies: list[int], *, batch_size: int = 1,
        window_ms: int = 2000, stability_pct: float = 10.0, max_trials: int = 10, config: dict | None = None,
        dynamic_dim: int = DYNAMIC_DIM.opt, progress=None) -> list[PaResult]:
    """perf_analyzer at each concurrency.

    A level that does not stabilize is retried with a window twice as long, then also with twice
    the stability percentage (a shared machine is noisy); ``PaResult.stability_pct`` says which held.
    """
    shape_args = _shape_args(config or {}, dynamic_dim)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in concurrencies:
            res = None
            ladder = ((window_ms, stability_pct), (window_ms * 2, stability_pct), (window_ms * 2, stability_pct * 2))
            for attempt, (wms, pct) in enumerate(ladder):
                out = Path(tmp) / f"c{c}_{attempt}.csv"
                cmd = command(pa, model, url, protocol, c, batch_size=batch_size, window_ms=wms,
                              stability_pct=pct, max_trials=max_trials, shape_args=shape_args, csv_path=out)
                if progress:
                    progress(f"perf_analyzer {protocol} c={c} (window {wms} ms)")
                proc = subprocess.run(cmd, capture_output=True, text=True, env=pa.env(), timeout=wms / 1000 * (max_trials + 4) + 60)
                text = proc.stdout + proc.stderr
                if proc.returncode == 0 and out.exists():
                    with open(out, newline="") as f:
                        row = next(csv.DictReader(f))
                    us = lambda k: float(row.get(k) or "nan") / 1000.0  # noqa: E731 - CSV is in microseconds
                    avg = parse_client_avg_ms(proc.stdout)
                    if avg != avg:  # no console summary: the CSV's client-side parts
                        avg = sum(float(row.get(k) or 0) for k in (
                            "Client Send", "Network+Server Send/Recv", "Client Recv")) / 1000.0
                    res = PaResult(c, float(row["Inferences/Second"]), us("p50 latency"), us("p95 latency"),
                                   us("p99 latency"), avg, True, text, pct, parse_server(proc.stdout, model))
                    break
                if "stable" not in text.lower():
                    raise ClientError(f"perf_analyzer failed (exit {proc.returncode}) at concurrency {c}: {text.strip()[-600:]}")
            if res is None:
                res = PaResult(c, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), False, text, pct)
            results.append(res)
    return results
