"""Python models carry their dependencies: `requirements:` vendored into the version directory.

Triton's Python backend puts a model's version directory on the stub's ``sys.path`` (after the
image's own site-packages), so packages installed there with ``pip install --target`` import in
the official ``nvcr.io/nvidia/tritonserver:<yy.mm>-py3`` image as they are, with no custom image
and no ``EXECUTION_ENV_PATH`` tarball. Chosen over conda-pack because it needs neither conda nor
a Python built for the image at build time (pip picks wheels for another Python with
``--python-version``), travels with the version (a new requirement makes a new version, the old
one keeps its own), and is plain files a push uploads like any other.

Wheels are chosen for each Python that will run the model: the target Triton release's (from
tools/tritonctl/data/triton_releases.yaml) and this interpreter's (the local `tritonctl serve`
stub). Each is installed into its own scratch directory and the trees are merged: pure-Python
files are identical, and compiled extensions carry their ABI in their file names
(``_imaging.cpython-310-x86_64-linux-gnu.so`` beside ``...cpython-311...``), so one directory
serves both. A file that differs between the two is refused (pin the requirement).
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tritonctl.errors import ExportError

# manylinux tags a Triton image (glibc 2.35 on Ubuntu 22.04, 2.39 on 24.04) loads. pip does not
# expand a --platform to the older tags it implies, so they are listed.
PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)))
# pip's own debris in a --target directory: not needed at run time
_SKIP = ("bin", "__pycache__")


def vendor(requirements: list[str], dest: Path, pythons: list[str], model: str) -> list[str]:
    """Install `requirements` for every Python in `pythons` into `dest`; returns what was installed
    ("name version" per distribution). Raises ExportError naming the model and pip's reason."""
    if not requirements:
        return []
    installed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tritonctl-vendor-") as tmp:
        for py in dict.fromkeys(pythons):
            target = Path(tmp) / py
            cmd = [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                "--target", str(target), "--only-binary=:all:", "--implementation", "cp", "--python-version", py,
                *[arg for p in PLATFORMS for arg in ("--platform", p)], *requirements,
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                reason = (res.stderr or res.stdout).strip().splitlines()[-3:]
                raise ExportError(
                    f"model '{model}': requirements {requirements} cannot be installed for Python {py} "
                    f"(the Python of the Triton release it targets, or of the local server): {' '.join(reason)}; "
                    "pin a version that has wheels for that Python (pip download --python-version "
                    f"{py} --only-binary=:all: ...)"
                )
            for dist in target.glob("*.dist-info"):
                name, _, version = dist.name[: -len(".dist-info")].rpartition("-")
                if installed.get(name, version) != version:
                    raise ExportError(
                        f"model '{model}': {name} resolves to {installed[name]} for one Python and {version} for "
                        f"Python {py}; pin it in requirements (e.g. {name}=={installed[name]})"
                    )
                installed[name] = version
            _merge(target, dest, model)
    return [f"{n} {v}" for n, v in sorted(installed.items())]


def _merge(src: Path, dest: Path, model: str) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if rel.parts[0] in _SKIP or "__pycache__" in rel.parts:
            continue
        out = dest / rel
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif not out.exists():
            shutil.copy2(path, out)
        elif not filecmp.cmp(path, out, shallow=False) and not rel.parts[0].endswith(".dist-info"):
            raise ExportError(
                f"model '{model}': vendored file {rel} differs between the Python versions it is built for; "
                "pin the requirement to one version"
            )
