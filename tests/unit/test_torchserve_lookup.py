"""Where `tritonctl import --verify` finds TorchServe (tritonctl.importer.torchserve_env).

It looked only at `.venv-peers` under the current directory and told a user outside the checkout
to run `make peers-install`, which they cannot. Each test builds its own fake layout (a checkout,
a venv, a PATH) in tmp_path, so nothing depends on what this machine has installed."""

from __future__ import annotations

import argparse
import stat
import tomllib
from pathlib import Path

import pytest

from tritonctl.commands import import_
from tritonctl.errors import TritonctlError
from tritonctl.importer import torchserve_env
from tritonctl.importer.torchserve_env import locate

ROOT = Path(__file__).resolve().parents[2]


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def layout(tmp_path):
    """A checkout with its peers venv, another directory to run from, an empty PATH and a tritonctl
    Python whose bin has no torchserve."""
    checkout, elsewhere, python_bin = tmp_path / "checkout", tmp_path / "elsewhere", tmp_path / "env" / "bin"
    elsewhere.mkdir()
    python_bin.mkdir(parents=True)
    return {"checkout": checkout, "cwd": elsewhere, "environ": {"PATH": ""}, "python": str(python_bin / "python")}


def test_run_from_another_directory_the_checkouts_peers_venv_is_found(layout):
    exe = executable(layout["checkout"] / ".venv-peers" / "bin" / "torchserve")
    assert locate(**layout) == exe


def test_the_cli_defaults_to_no_peers_venv_under_the_current_directory():
    parser = argparse.ArgumentParser()
    import_.add_arguments(parser)
    args = parser.parse_args(["archive.mar", "--verify"])
    assert args.peers_venv is None and args.torchserve is None


def test_torchserve_installed_beside_tritonctl_or_on_path_is_found(layout, tmp_path):
    beside = executable(Path(layout["python"]).parent / "torchserve")
    assert locate(**layout) == beside
    beside.unlink()
    on_path = executable(tmp_path / "usr" / "bin" / "torchserve")
    assert locate(**{**layout, "environ": {"PATH": str(on_path.parent)}}) == on_path


def test_an_explicit_executable_or_the_environment_variable_wins_and_is_never_silently_replaced(layout, tmp_path):
    executable(layout["checkout"] / ".venv-peers" / "bin" / "torchserve")
    chosen = executable(tmp_path / "opt" / "torchserve")
    env = {**layout["environ"], torchserve_env.ENV_VAR: str(chosen)}
    assert locate(**{**layout, "environ": env}) == chosen
    assert locate(chosen, **layout) == chosen  # --torchserve
    with pytest.raises(TritonctlError) as err:  # named but missing: an error, not the checkout's one
        locate(tmp_path / "missing" / "torchserve", **layout)
    assert "--torchserve" in str(err.value) and str(tmp_path / "missing" / "torchserve") in str(err.value)
    with pytest.raises(TritonctlError) as err:
        locate(**{**layout, "environ": {**layout["environ"], torchserve_env.ENV_VAR: str(tmp_path / "gone")}})
    assert torchserve_env.ENV_VAR in str(err.value)


def test_a_missing_torchserve_is_one_line_naming_the_pip_packages_and_where_it_looked(layout):
    with pytest.raises(TritonctlError) as err:
        locate(**layout)
    message = str(err.value)
    assert "\n" not in message
    assert "pip install torchserve==0.12.0 captum==0.9.0" in message
    assert str(layout["cwd"] / ".venv-peers") in message and torchserve_env.ENV_VAR in message and "--torchserve" in message


def test_the_pip_packages_named_are_the_torchserve_extra_of_pyproject():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert list(torchserve_env.PIP_PACKAGES) == extras["torchserve"]


def test_a_peers_venv_given_explicitly_is_its_bin_torchserve(layout, tmp_path):
    exe = executable(tmp_path / "my-venv" / "bin" / "torchserve")
    assert locate(venv=tmp_path / "my-venv", **layout) == exe
    with pytest.raises(TritonctlError) as err:
        locate(venv=tmp_path / "no-venv", **layout)
    assert "--peers-venv" in str(err.value)


def test_the_real_checkout_is_where_the_package_lives():
    # the default checkout is found from the package's own location, not from the current directory
    assert torchserve_env.CHECKOUT == ROOT
