"""Plot the autoscaling loop's time series (make bench-autoscale): replicas, the HPA's metric and
the request rate over idle -> load -> idle, from the CSV tests/cluster/test_cluster_autoscaling.py
writes (AUTOSCALE_CSV)."""

from __future__ import annotations

import argparse
import csv
import platform
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("png")
    p.add_argument("--target-us", type=float, required=True)
    args = p.parse_args()
    rows = list(csv.DictReader(open(args.csv)))
    t = [float(r["t"]) for r in rows]
    ok = [int(r["ok"]) for r in rows]
    rate = [0.0] + [(b - a) / max(tb - ta, 1e-6) for a, b, ta, tb in zip(ok, ok[1:], t, t[1:])]
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(9, 7))
    axes[0].step(t, [int(r["replicas"]) for r in rows], where="post", label="HPA current replicas")
    axes[0].step(t, [int(r["servers"]) for r in rows], where="post", linestyle="--", label="pods serving (stand-in)")
    axes[0].set_ylabel("replicas")
    axes[0].legend(loc="upper right")
    metric = [float(r["metric_us"]) / 1000 if r["metric_us"] else float("nan") for r in rows]
    axes[1].plot(t, metric, label="queue time per request (HPA's average)")
    axes[1].axhline(args.target_us / 1000, color="red", linestyle=":", label="target")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("ms")
    axes[1].legend(loc="upper right")
    axes[2].plot(t, rate, label="requests/s answered")
    axes[2].set_ylabel("req/s")
    axes[2].set_xlabel("seconds")
    failed = rows[-1]["failed"]
    axes[2].legend(loc="upper right", title=f"failed requests: {failed}")
    for phase in ("load", "cool-down"):
        start = next((float(r["t"]) for r in rows if r["phase"] == phase), None)
        if start is not None:
            for ax in axes:
                ax.axvline(start, color="grey", linewidth=0.8)
    fig.suptitle(f"Triton metrics -> Prometheus -> prometheus-adapter -> HPA ({platform.node()}, "
                 f"{time.strftime('%Y-%m-%d')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
