"""A headless Locust run of ``loadtest/locustfile.py`` from Python (the demo's "short Locust run").

    from tritonctl.bench.locust_run import run_headless
    summary = run_headless("localhost:8000", "linear", users=4, duration=10)
    summary["requests"], summary["failures"], summary["p99_ms"], summary["exit_code"]

Locust runs in a subprocess (it monkey-patches the process with gevent); its CSV and HTML
reports go to ``out_dir``; the summary is read back from the CSV.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from tritonctl.errors import ClientError

DIGITS_PIPELINE = "digits_pipeline"


# The Locust files ship inside the package (pyproject.toml's package-data): in a checkout
# tritonctl/data/loadtest is a symlink to loadtest/, in an installed tritonctl a copy of it, so the
# same path works from a checkout, an editable install and a `pip install`ed wheel.
LOADTEST_DIR = Path(__file__).resolve().parents[1] / "data" / "loadtest"


def locustfile_path() -> Path:
    """``$TRITONCTL_LOCUSTFILE`` or the package's ``loadtest/locustfile.py``."""
    path = Path(os.environ.get("TRITONCTL_LOCUSTFILE") or (LOADTEST_DIR / "locustfile.py").resolve())
    if not path.exists():
        raise ClientError(
            f"the Locust file {path} does not exist; reinstall tritonctl, or set TRITONCTL_LOCUSTFILE to a locustfile.py"
        )
    return path


def user_classes_for(model: str, protocol: str) -> list[str]:
    """The concrete user classes that call ``model`` over ``protocol`` (grpc, http or both)."""
    protos = {"grpc": ["Grpc"], "http": ["Http"], "both": ["Grpc", "Http"]}.get(protocol)
    if protos is None:
        raise ClientError(f"protocol '{protocol}' is not one of grpc, http, both")
    prefix = "DigitsPipeline" if model == DIGITS_PIPELINE else "Model"
    return [f"{prefix}{p}User" for p in protos]


def read_stats_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _num(row: dict, key: str) -> float:
    try:
        return float(row.get(key) or 0)
    except ValueError:
        return 0.0


def summarize(rows: list[dict]) -> dict:
    per_name, total = [], None
    for r in rows:
        item = {
            "type": r.get("Type", ""),
            "name": r.get("Name", ""),
            "requests": int(_num(r, "Request Count")),
            "failures": int(_num(r, "Failure Count")),
            "rps": _num(r, "Requests/s"),
            "avg_ms": _num(r, "Average Response Time"),
            "p50_ms": _num(r, "50%"),
            "p95_ms": _num(r, "95%"),
            "p99_ms": _num(r, "99%"),
        }
        if r.get("Name") == "Aggregated":
            total = item
        else:
            per_name.append(item)
    total = total or {"requests": 0, "failures": 0, "rps": 0.0, "avg_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    return {k: total[k] for k in ("requests", "failures", "rps", "avg_ms", "p50_ms", "p95_ms", "p99_ms")} | {
        "per_name": per_name
    }


def locust_command(
    host: str,
    model: str,
    users: int,
    duration: float,
    *,
    protocol: str = "both",
    grpc_host: str | None = None,
    spawn_rate: float | None = None,
    out_prefix: Path | None = None,
    html: Path | None = None,
    max_fail_ratio: float | None = None,
    max_p99_ms: float | None = None,
    samples: str | None = None,
    processes: int | None = None,
    shape: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    host = host if "://" in host else f"http://{host}"
    files = str(locustfile_path())
    if shape:
        files += "," + str(locustfile_path().parent / "shapes" / f"{shape}.py")
    cmd = [
        sys.executable, "-m", "locust", "-f", files, "--headless",
        "-u", str(users), "-r", str(spawn_rate or users), "-t", f"{max(1, int(round(duration)))}s",
        "--host", host, "--only-summary", "--stop-timeout", "5",
    ]
    if model != DIGITS_PIPELINE:
        cmd += ["--models", model]
    if grpc_host:
        cmd += ["--grpc-host", grpc_host]
    if samples:
        cmd += ["--samples", str(samples)]
    if out_prefix:
        cmd += ["--csv", str(out_prefix)]
    if html:
        cmd += ["--html", str(html)]
    if max_fail_ratio is not None:
        cmd += ["--max-fail-ratio", str(max_fail_ratio)]
    if max_p99_ms is not None:
        cmd += ["--max-p99-ms", str(max_p99_ms)]
    if processes:
        cmd += ["--processes", str(processes)]
    cmd += list(extra or [])
    return cmd + user_classes_for(model, protocol)


def run_headless(
    host: str,
    model: str,
    users: int = 4,
    duration: float = 10,
    *,
    protocol: str = "both",
    grpc_host: str | None = None,
    out_dir: str | Path = "reports/loadtest",
    max_fail_ratio: float | None = 0.0,
    max_p99_ms: float | None = None,
    samples: str | None = None,
    processes: int | None = None,
    shape: str | None = None,
    timeout: float | None = None,
    extra: list[str] | None = None,
) -> dict:
    """Run Locust headless against Triton at ``host`` (its HTTP endpoint) for ``duration`` seconds.

    ``shape`` adds a load shape of loadtest/shapes/ (``step`` or ``spike``), sized by users/duration.
    Returns ``{"exit_code", "requests", "failures", "rps", "avg_ms", "p50_ms", "p95_ms", "p99_ms",
    "per_name": [...], "csv", "html", "log"}``; ``exit_code`` is Locust's (0: thresholds held).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{model.replace(',', '+')}_{protocol}"
    prefix, html, logf = out / stem, out / f"{stem}.html", out / f"{stem}.log"
    cmd = locust_command(
        host, model, users, duration, protocol=protocol, grpc_host=grpc_host, out_prefix=prefix, html=html,
        max_fail_ratio=max_fail_ratio, max_p99_ms=max_p99_ms, samples=samples, processes=processes, shape=shape,
        extra=extra,
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(logf, "w") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                  timeout=timeout or duration + 60)
        except subprocess.TimeoutExpired as exc:
            raise ClientError(f"Locust did not finish within {exc.timeout:.0f}s; see {logf}") from exc
    stats = Path(f"{prefix}_stats.csv")
    summary = summarize(read_stats_csv(stats)) if stats.exists() else summarize([])
    summary.update(exit_code=proc.returncode, csv=str(stats), html=str(html), log=str(logf), command=cmd)
    return summary


__all__ = ["LOADTEST_DIR", "locust_command", "locustfile_path", "run_headless", "summarize", "user_classes_for"]
