"""A real local Triton for the integration tests.

The session server serves the example repository exactly as `tritonctl build models.yaml`
writes it (built once per session into a temporary directory, tests/conftest.py), plus two small fixture models (linear_ab with
two versions side by side, two_io_torchscript). It is started with `tritonctl serve` as a
subprocess on free ports and always stopped (SIGTERM, as Ctrl-C would) in ``finally``; when it
fails to start, the fixture prints serve's output and the server log before failing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture_repo import build_fixture_repo  # noqa: E402
from serverkit import ROOT, Served, free_port, run_tritonctl, start_server, stop_server, tritonctl_cmd  # noqa: E402,F401


@pytest.fixture(scope="session")
def example_repo(example_build, tmp_path_factory) -> Path:
    """The session's `tritonctl build models.yaml` output (tests/conftest.py), plus the fixture models."""
    repo = tmp_path_factory.mktemp("repo") / "model_repository"
    shutil.copytree(example_build, repo)
    build_fixture_repo(repo, base=False)
    return repo


@pytest.fixture(scope="session")
def server(example_repo, tmp_path_factory):
    served = start_server(example_repo, tmp_path_factory.mktemp("server"))
    try:
        yield served
    finally:
        stop_server(served)


@pytest.fixture(scope="session")
def spec():
    from tritonctl import spec as S

    return S.load(ROOT / "models.yaml")


@pytest.fixture(scope="session")
def eager_models(spec):
    """Eager PyTorch modules of the example models, built once, by spec name."""
    from tritonctl import sources

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = sources.load_module(spec.model(name), spec)
        return cache[name]

    return get


@pytest.fixture(params=["grpc", "http"])
def protocol(request) -> str:
    return request.param


@pytest.fixture
def client(server, protocol):
    from tritonctl import client as tc

    c = tc.make_client(server.url(protocol), protocol)
    try:
        yield c
    finally:
        c.close()
