"""Plot the autoscaling loops' time series (make bench-autoscale): for each metric path
(prometheus-adapter, KEDA) and signal (queue time per request, queue/compute ratio), the replicas,
the HPA's metric against its target and the request rate over idle -> load -> idle, from the CSVs
tests/cluster/test_cluster_autoscaling*.py write to $AUTOSCALE_DIR (``<path>-<metric>.csv``)."""

from __future__ import annotations

import argparse
import csv
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PATHS = {"prometheus-adapter": "prometheus-adapter -> HPA", "keda": "KEDA -> HPA"}
#: the one table of each signal's label, plotted unit and scale from the CSV's value (the queue time is
#: in us there); tests/cluster/autoscaling.py's Signal names only the metric and its target
SIGNALS = {"queueTimePerRequest": ("queue time per request", "ms", 1 / 1000),
           "queueComputeRatio": ("queue time / compute time", "ratio", 1.0)}


def runs(folder: Path) -> list[tuple[str, str, list[dict]]]:
    """(path, signal, rows) of every CSV in ``folder``, in PATHS x SIGNALS order."""
    found = []
    for path in PATHS:
        for signal in SIGNALS:
            f = folder / f"{path}-{signal}.csv"
            if f.exists():
                found.append((path, signal, list(csv.DictReader(f.open()))))
    if not found:
        raise SystemExit(f"no <path>-<metric>.csv in {folder}: run make bench-autoscale")
    return found


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("png")
    args = p.parse_args()
    found = runs(args.folder)
    fig, axes = plt.subplots(3, len(found), sharex="col", figsize=(4.5 * len(found), 7.5), squeeze=False)
    for col, (path, signal, rows) in enumerate(found):
        label, unit, scale = SIGNALS[signal]
        replicas_ax, metric_ax, rate_ax = axes[:, col]
        t = [float(r["t"]) for r in rows]
        ok = [int(r["ok"]) for r in rows]
        rate = [0.0] + [(b - a) / max(tb - ta, 1e-6) for a, b, ta, tb in zip(ok, ok[1:], t, t[1:])]
        replicas_ax.set_title(f"{PATHS[path]}\n{label}", fontsize=9)
        replicas_ax.step(t, [int(r["replicas"]) for r in rows], where="post", label="HPA current replicas")
        replicas_ax.step(t, [int(r["servers"]) for r in rows], where="post", linestyle="--", label="pods serving")
        replicas_ax.set_ylabel("replicas")
        metric_ax.plot(t, [float(r["metric"]) * scale if r["metric"] else float("nan") for r in rows],
                       label="the HPA's metric")
        metric_ax.axhline(float(rows[0]["target"]) * scale, color="red", linestyle=":", label="target")
        metric_ax.set_yscale("log")
        metric_ax.set_ylabel(unit)
        rate_ax.plot(t, rate, label="requests/s answered")
        rate_ax.set_ylabel("req/s")
        rate_ax.set_xlabel("seconds")
        rate_ax.legend(loc="upper right", title=f"failed requests: {rows[-1]['failed']}", fontsize=7, title_fontsize=7)
        if col == 0:
            replicas_ax.legend(loc="upper right", fontsize=7)
            metric_ax.legend(loc="upper right", fontsize=7)
        for phase in ("load", "cool-down"):
            start = next((float(r["t"]) for r in rows if r["phase"] == phase), None)
            if start is not None:
                for ax in (replicas_ax, metric_ax, rate_ax):
                    ax.axvline(start, color="grey", linewidth=0.8)
    fig.suptitle(f"Triton metrics -> Prometheus -> metric server -> HPA ({platform.node()}, "
                 f"{time.strftime('%Y-%m-%d')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)


if __name__ == "__main__":
    main()
