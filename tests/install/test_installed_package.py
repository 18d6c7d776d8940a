"""A `pip install`ed tritonctl (a wheel, not the checkout) finds what it reads: the Locust files of
`bench --locust` and the demo ship inside the package (pyproject.toml's package-data, through the
symlink tools/tritonctl/data/loadtest -> loadtest/), and `tritonctl demo --help` runs from a
directory with no checkout in sight.

The install goes into a fresh venv with --no-deps; the project venv's site-packages is visible
through a .pth file (torch and the rest are not downloaded again), and its own editable install of
tritonctl is not (a .pth inside a directory that a .pth adds is never read)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from venvkit import foreign_venv_env

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, tritonctl
from tritonctl.bench import locust_run
cmd = locust_run.locust_command("localhost:8000", "linear", 2, 5, shape="spike")
files = cmd[cmd.index("-f") + 1].split(",")
print(json.dumps({"package": tritonctl.__file__, "locust_files": files}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The venv's python, with tritonctl installed from a wheel built off a copy of the checkout
    (pip builds in the source tree: the shared checkout stays untouched)."""
    tmp = tmp_path_factory.mktemp("installed")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "tools" / "tritonctl", src / "tools" / "tritonctl", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "loadtest", src / "loadtest", ignore=ignore)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                           "--no-build-isolation", "--no-index", "--quiet", str(src)],
                          capture_output=True, text=True, timeout=120, env=foreign_venv_env())
    assert done.returncode == 0, done.stdout + done.stderr
    return python



@pytest.mark.slow
def test_the_installed_package_is_the_wheel_and_finds_its_locust_files_outside_the_checkout(installed, tmp_path):
    out = subprocess.run([str(installed), "-c", PROBE], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env=foreign_venv_env())
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    venv = installed.parent.parent
    assert Path(found["package"]).is_relative_to(venv), f"imported {found['package']}, not the installed wheel"
    assert [Path(f).name for f in found["locust_files"]] == ["locustfile.py", "spike.py"]
    for f in map(Path, found["locust_files"]):
        assert f.is_relative_to(venv) and f.is_file() and not f.is_symlink(), f
    here = Path(found["locust_files"][0]).parent
    # what the locustfile imports beside it, and what the demo runs, are there too, and current
    for name in ("triton_users.py", "triton_inputs.py", "triton_run.py", "triton_stats.py", "triton_wire.py",
                 "digit_samples.py"):
        assert (here / name).read_text() == (ROOT / "loadtest" / name).read_text(), name


@pytest.mark.slow
def test_tritonctl_demo_help_runs_from_the_installed_script_outside_the_checkout(installed, tmp_path):
    script = installed.parent / "tritonctl"
    out = subprocess.run([str(script), "demo", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env=foreign_venv_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: tritonctl demo") and "--load-seconds" in out.stdout
