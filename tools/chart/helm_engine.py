"""The chart on Helm's own engine (helm-python-sdk, no helm binary): load, render, lint.

Used by the chart tests and by generated_files.py; as a script it lints the defaults and every
scenario file (`make chart-lint`):

    python tools/chart/helm_engine.py lint
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "triton"
CI_DIR = CHART / "ci"
KUBE_VERSION = "v1.30.0"
RELEASE = "triton"
NAMESPACE = "triton"


# ---------------------------------------------------------------- rendering

def load_chart():
    import helm_python

    return helm_python.Chart.load(str(CHART))


def scenario_files() -> list[Path]:
    return sorted(CI_DIR.glob("*-values.yaml"))


def render(values: dict | None = None, *, name: str = RELEASE, namespace: str = NAMESPACE,
           chart=None) -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt included)."""
    chart = chart or load_chart()
    return chart.render(values or {}, name=name, namespace=namespace)


def objects(rendered: dict[str, str], *, hooks: bool = True) -> list[dict]:
    """Every Kubernetes object of a render, in template order."""
    out = []
    for path in sorted(rendered):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if not doc:
                continue
            is_hook = "helm.sh/hook" in (doc.get("metadata", {}).get("annotations") or {})
            if is_hook and not hooks:
                continue
            out.append(doc)
    return out


def lint(values: dict | None = None) -> list[str]:
    """Lint errors and warnings (strict), as 'path: message' lines."""
    import helm_python

    report = helm_python.lint(str(CHART), values or {}, strict=True, namespace=NAMESPACE,
                              kube_version=KUBE_VERSION)
    return [f"{m['path']}: {m['error'].strip()}" for m in report["messages"] if m["severity"] >= 2]


def lint_scenarios() -> int:
    """Lint the defaults and every ci/*-values.yaml; print one line each; 1 when any fails."""
    failed = 0
    for label, values in [("defaults", {})] + [(p.name, yaml.safe_load(p.read_text())) for p in scenario_files()]:
        problems = lint(values)
        print(f"{'FAIL' if problems else 'ok  '} {label}")
        for p in problems:
            print(f"     {p}")
        failed += bool(problems)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["lint"])
    parser.parse_args(argv)
    return lint_scenarios()


if __name__ == "__main__":
    sys.exit(main())
