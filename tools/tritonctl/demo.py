"""`make demo`: the whole path on one machine, against a real local Triton.

    tritonctl demo [--repository model_repository] [--load-seconds 10] [--no-load]
    (also: python -m tritonctl.demo ...)

1. starts `tritonctl serve` on the repository (the default ports when free, else free ones);
2. sends a real digit image (held-out scikit-learn digit, dark ink on white, PNG) through
   digits_pipeline over gRPC and over HTTP, and prints both answers;
3. runs a short Locust load (loadtest/locustfile.py, headless) against both protocols;
4. prints a summary: every model with its format, parity error from its build.json, and its
   latency measured here (p50/p95 of sequential gRPC requests);
5. stops the server, whatever happened.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tritonctl import client as tc
from tritonctl import exporters
from tritonctl.errors import TritonctlError
from tritonctl.repository import read_record
from tritonctl.endpoints import DEFAULT_PORTS, free_port, port_in_use
from tritonctl.server.health import failed_models
from tritonctl.server.launcher import LocalServer, ServerOptions

ROOT = Path.cwd()
FORMATS = {unit.PLATFORM: fmt for fmt, unit in exporters.UNITS.items()}  # platform -> format name


def digit_image() -> tuple[bytes, int]:
    """A held-out scikit-learn digit drawn dark-on-light at 112x112 as PNG, and its label."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    img = 255 - (d.images[-1] * 16).clip(0, 255)
    im = Image.fromarray(img.astype(np.uint8)).resize((112, 112), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue(), int(d.target[-1])


def pick_ports() -> tuple[int, int, int]:
    wanted = (DEFAULT_PORTS["http"], DEFAULT_PORTS["grpc"], DEFAULT_PORTS["metrics"])
    if not any(port_in_use(p) for p in wanted):
        return wanted
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    return tuple(sorted(ports))  # type: ignore[return-value]


def parity_of(repo: Path, model: str, version: str) -> str:
    report = read_record(repo / model / str(version))
    if report is None:
        return "-"
    outs = (report.get("parity") or {}).get("outputs") or []
    if not outs:
        return "-"
    worst = max(outs, key=lambda o: o.get("max_abs", 0.0))
    return f"{worst.get('max_abs', 0.0):.1e} / {worst.get('atol', 0):.0e}"


def latency(client, model: str, config: dict, image: bytes, n: int = 20) -> tuple[float, float]:
    if model in ("digits_pipeline", "digits_preprocess"):
        feeds = {"IMAGE": tc.encode_image(image)}
    else:
        feeds = tc.random_inputs(config, 1, rng=np.random.default_rng(0))
    tc.infer(client, model, feeds)  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        tc.infer(client, model, feeds)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def run_load(http_url: str, grpc_url: str, seconds: int, reports: Path) -> dict | None:
    """A short headless Locust run (loadtest/locustfile.py) over gRPC and HTTP; None if Locust is
    absent or no samples could be made."""
    from tritonctl.bench.locust_run import LOADTEST_DIR, run_headless

    samples = reports / "demo_samples"
    if not any(samples.glob("*.png")):  # the package's copy of loadtest/: the demo runs outside a checkout too
        made = subprocess.run([sys.executable, str((LOADTEST_DIR / "digit_samples.py").resolve()), str(samples),
                               "-n", "20"], capture_output=True, text=True, timeout=120, cwd=ROOT)
        if made.returncode != 0 or not any(samples.glob("*.png")):
            print(f"load: skipped; digit_samples.py failed (exit {made.returncode}) to write samples to {samples}:")
            print(made.stderr.strip() or "(no output)")
            return None
    models = "linear,digits,digits_pipeline"
    print(f"load: Locust, 4 users, {seconds}s, gRPC + HTTP, models {models}")
    try:
        summary = run_headless(http_url, models, users=4, duration=seconds, grpc_host=grpc_url,
                               out_dir=reports / "demo_load", samples=str(samples))
    except TritonctlError as exc:
        print(f"load: {exc}")
        return None
    if not summary["requests"]:
        print(f"load: Locust did not report (exit {summary['exit_code']}); see {summary['log']}")
        return None
    return summary


def run(args) -> int:
    """The demo; ``args`` as ``tritonctl demo`` parses them (tritonctl.commands.demo)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    repo = Path(args.repository)
    http, grpc, metrics = pick_ports()
    opts = ServerOptions(
        repository=repo, http_port=http, grpc_port=grpc, metrics_port=metrics,
        address="127.0.0.1", state_dir=Path(args.state_dir), exit_timeout_secs=10,
    )
    server = LocalServer(opts)
    try:
        console.print(f"[bold]1. tritonctl serve {repo}[/bold] (HTTP {http}, gRPC {grpc}, metrics {metrics})")
        server.start()
        t0 = time.monotonic()
        index = server.wait_ready(timeout=300)
        console.print(f"   ready in {time.monotonic() - t0:.1f}s, {sum(m.ready for m in index)} model versions READY")
        for m in failed_models(index):
            console.print(f"   [red]{m.name} v{m.version} failed: {m.reason.splitlines()[0]}[/red]")

        image, label = digit_image()
        reports = ROOT / "reports"
        reports.mkdir(exist_ok=True)
        (reports / "demo_digit.png").write_bytes(image)
        console.print(f"[bold]2. a handwritten {label} (reports/demo_digit.png) through digits_pipeline[/bold]")
        clients = {"grpc": tc.make_client(opts.grpc_url, "grpc"), "http": tc.make_client(opts.http_url, "http")}
        for protocol, c in clients.items():
            out = tc.infer(c, "digits_pipeline", {"IMAGE": tc.encode_image(image)})
            answer = ", ".join(f"{lab.decode()} ({score:.3f})" for lab, score in zip(out["LABELS"][0], out["SCORES"][0]))
            ok = "right" if out["LABELS"][0][0].decode() == str(label) else "WRONG"
            console.print(f"   {protocol:>4}: {answer}  -> {ok}")

        load = None
        if args.no_load:
            console.print("[bold]3. load[/bold]: skipped (--no-load)")
        else:
            console.print("[bold]3. a short load[/bold]")
            load = run_load(opts.http_url, opts.grpc_url, args.load_seconds, reports)
            if load:
                t = Table("type", "name", "requests", "failures", "p50 ms", "p95 ms", "p99 ms", "req/s")
                for r in load["per_name"] + [dict(load, type="", name="Aggregated")]:
                    t.add_row(r["type"], r["name"], str(r["requests"]), str(r["failures"]),
                              *(f"{r[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")), f"{r['rps']:.1f}")
                console.print(t)
                console.print(f"   reports: {load['html']}, {load['csv']}")

        console.print("[bold]4. summary[/bold]")
        table = Table("model", "version", "format", "state", "parity: max abs err / atol", "p50 ms", "p95 ms")
        for m in sorted(index, key=lambda m: m.name):
            name, version = m.name, m.version
            if not m.ready:
                table.add_row(name, version, "-", m.state.value, "-", "-", "-")
                continue
            cfg = tc.get_config(clients["grpc"], name)
            fmt = FORMATS.get(cfg.get("platform", ""), cfg.get("platform") or cfg.get("backend", "?"))
            try:
                p50, p95 = latency(clients["grpc"], name, cfg, image)
                lat = (f"{p50:.1f}", f"{p95:.1f}")
            except TritonctlError as exc:
                lat = ("error", str(exc)[:40])
            table.add_row(name, version, fmt, "READY", parity_of(repo, name, version), *lat)
        console.print(table)
        for c in clients.values():
            c.close()
        return 0
    except TritonctlError as exc:
        console.print(f"[red]demo failed: {exc}[/red]")
        return 1
    finally:
        console.print("[bold]5. stopping the server[/bold]")
        server.stop(timeout=30)


if __name__ == "__main__":  # `python -m tritonctl.demo ...` is `tritonctl demo ...`
    from tritonctl.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
