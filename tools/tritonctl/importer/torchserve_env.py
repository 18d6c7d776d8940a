"""Where `tritonctl import --verify` finds the TorchServe it serves the archive on.

TorchServe pins its own torch and needs Java, so it often lives apart from tritonctl: in the
checkout's `.venv-peers` (`make peers-install`), in another venv, or installed beside tritonctl
(`pip install torchserve==0.12.0 captum==0.9.0`); a user running from their own project has no
`.venv-peers` under the current directory.

Order: `--torchserve EXE`, then `--peers-venv DIR` (DIR/bin/torchserve), then $TRITONCTL_TORCHSERVE;
a place named by the user is used or refused, never silently replaced by another. Otherwise the
first of: the checkout's `.venv-peers` (found from this package's location, so any current
directory works), `.venv-peers` under the current directory, the bin directory of the Python
running tritonctl (a venv that is not activated is not on PATH), then PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tritonctl.errors import TritonctlError

ENV_VAR = "TRITONCTL_TORCHSERVE"
PEERS_VENV = ".venv-peers"
# pyproject.toml's `torchserve` extra (tests/unit/test_torchserve_lookup.py keeps them equal)
PIP_PACKAGES = ("torchserve==0.12.0", "captum==0.9.0")
# tools/tritonctl/importer/torchserve_env.py -> the checkout; in an installed wheel this is a
# site-packages parent that has no .venv-peers, and the lookup moves on
CHECKOUT = Path(__file__).resolve().parents[3]


class TorchServeNotFound(TritonctlError):
    """No torchserve executable where the user pointed, or anywhere the lookup searches."""


def locate(explicit: Path | str | None = None, *, venv: Path | str | None = None, environ: dict | None = None,
           cwd: Path | None = None, checkout: Path = CHECKOUT, python: str = sys.executable) -> Path:
    """The torchserve executable to run (see the module docstring for the order)."""
    environ = os.environ if environ is None else environ
    named = ([("--torchserve", Path(explicit))] if explicit else
             [("--peers-venv", Path(venv) / "bin" / "torchserve")] if venv else
             [(f"${ENV_VAR}", Path(environ[ENV_VAR]))] if environ.get(ENV_VAR) else [])
    for how, path in named:
        if _runnable(path):
            return path
        raise TorchServeNotFound(
            f"{how} names {path}, which is not an executable torchserve; point it at the torchserve script of "
            f"an environment where `pip install {' '.join(PIP_PACKAGES)}` ran"
        )
    cwd = Path.cwd() if cwd is None else Path(cwd)
    candidates = [checkout / PEERS_VENV / "bin" / "torchserve", cwd / PEERS_VENV / "bin" / "torchserve",
                  Path(python).parent / "torchserve"]
    for path in candidates:
        if _runnable(path):
            return path
    found = shutil.which("torchserve", path=environ.get("PATH", ""))
    if found:
        return Path(found)
    looked = ", ".join(str(p.parent.parent) if PEERS_VENV in p.parts else str(p.parent) for p in candidates)
    raise TorchServeNotFound(
        f"--verify needs TorchServe and found none (looked in {looked} and PATH): `pip install "
        f"{' '.join(PIP_PACKAGES)}` into this environment or another one (plus a Java 17+ runtime), then pass "
        f"--torchserve PATH/TO/torchserve or set {ENV_VAR} if it is not this one"
    )


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
