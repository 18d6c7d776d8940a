"""tritonctl in a project that already has its own torch: the oldest and the newest release of the
range pyproject.toml claims (venvs made by mk/install.mk the way a user makes one: their torch first,
PyPI's CUDA build, then tritonctl with extras) keep that torch, and build every example of
models.yaml (TorchScript traced and scripted, ONNX, a Python-backend pipeline) and the README's own
model through the dynamo exporter, each export proven against eager PyTorch by the parity gate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "docs"))
from readme_blocks import walkthrough_files  # noqa: E402
from venvkit import foreign_venv_env  # noqa: E402

TESTED = re.search(r"^TORCH_BOUNDS := (.+)$", (ROOT / "mk" / "install.mk").read_text(), re.M).group(1).split()
CLAIMED = SpecifierSet(next(d[len("torch"):] for d in tomllib.loads((ROOT / "pyproject.toml").read_text())
                            ["project"]["dependencies"] if re.match(r"torch\b", d)))


def test_the_tested_releases_are_the_ends_of_the_claimed_range():
    oldest, newest = min(map(Version, TESTED)), max(map(Version, TESTED))
    assert oldest in CLAIMED and newest in CLAIMED, (TESTED, str(CLAIMED))
    major, minor = oldest.release[:2]
    assert Version(f"{major}.{minor - 1}.99") not in CLAIMED, f"{CLAIMED} claims releases older than {oldest}, untested"
    major, minor = newest.release[:2]
    assert Version(f"{major}.{minor + 1}.0") not in CLAIMED, f"{CLAIMED} claims releases newer than {newest}, untested"


def _python(release: str) -> Path:
    python = ROOT / f".venv-torch-{release}" / "bin" / "python"
    assert python.is_file(), f"{python} missing: run make torch-bounds-install"
    return python



@pytest.mark.slow
@pytest.mark.parametrize("release", TESTED)
def test_installing_tritonctl_keeps_the_projects_torch(release):
    out = subprocess.run([str(_python(release)), "-c", "import json, torch, tritonctl; "
                          "print(json.dumps([torch.__version__, tritonctl.__file__]))"],
                         capture_output=True, text=True, timeout=120, env=foreign_venv_env())
    assert out.returncode == 0, out.stderr
    torch_version, package = json.loads(out.stdout)
    assert Version(torch_version).base_version == release
    assert Path(package).is_relative_to(ROOT / "tools"), package  # the checkout's code under test


def _build(python: Path, spec: Path, repo: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "tritonctl", "build", str(spec), "--repository", str(repo)],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=foreign_venv_env())


def _records(repo: Path) -> dict[str, dict]:
    return {p.parent.parent.name: json.loads(p.read_text()) for p in repo.glob("*/1/build.json")}


@pytest.mark.slow
@pytest.mark.parametrize("release", TESTED)
def test_every_example_builds_and_passes_parity(release, tmp_path):
    res = _build(_python(release), ROOT / "models.yaml", tmp_path / "repo", ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "is deprecated" not in res.stderr, res.stderr  # torch 2.15's torch.jit warnings stay out of the user's way
    records = _records(tmp_path / "repo")
    declared = [m["name"] for m in yaml.safe_load((ROOT / "models.yaml").read_text())["models"]]
    # each declared model, and the TorchScript twin of those with two formats, has version 1
    assert set(declared) <= set(records), sorted(set(declared) - set(records))
    exports = {name: r for name, r in records.items() if r["format"] in ("onnx", "torchscript")}
    assert {r["format"] for r in exports.values()} == {"onnx", "torchscript"}
    for name, record in exports.items():
        assert record["torch"] == release, (name, record["torch"])
        assert record["parity"]["ok"] is True, (name, record["parity"])


@pytest.mark.slow
@pytest.mark.parametrize("release", TESTED)
def test_the_readme_model_exports_through_dynamo(release, tmp_path):
    files = walkthrough_files()
    (tmp_path / "mymodel.py").write_text(files["mymodel.py"])
    spec = yaml.safe_load(files["models.yaml"])
    (model,) = spec["models"]
    model["onnx"] = {"exporter": "dynamo"}  # torch.export's path, which changed the most across releases
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(spec))
    python = _python(release)
    saved = subprocess.run([str(python), "mymodel.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env=foreign_venv_env())
    assert saved.returncode == 0, saved.stderr
    res = _build(python, tmp_path / "models.yaml", tmp_path / "repo", tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    record = _records(tmp_path / "repo")[model["name"]]
    assert (record["format"], record["torch"], record["parity"]["ok"]) == ("onnx", release, True)


PLOTS = """
import sys
from pathlib import Path
from tritonctl.bench import report as bench_report
from tritonctl.tune import report as tune_report
out = Path(sys.argv[1])
bench_report.plot([], out / "bench.png")
tune_report.save_plot([], 100.0, None, out / "tune.png", "tune")
"""


@pytest.mark.slow
def test_bench_and_tune_draw_their_plots_in_a_project_install(tmp_path):
    # every bench and tune run ends with its plot: what they import must come with the install
    out = subprocess.run([str(_python(max(TESTED, key=Version))), "-c", PLOTS, str(tmp_path)], capture_output=True,
                         text=True, timeout=120, env=foreign_venv_env())
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "tune.png").read_bytes()[:4] == b"\x89PNG"
