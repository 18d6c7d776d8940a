"""A real local Triton for the load tests, started with the integration suite's launcher.

The repository holds only what the load tests call (linear, digits and the digits_pipeline
ensemble with its Python pre/post-processing), copied from the session's `tritonctl build`
output (tests/conftest.py). The server is `tests/integration/conftest.py::start_server` (a
`tritonctl serve` subprocess on free ports, always stopped in ``finally``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import slow_model

ROOT = Path(__file__).resolve().parents[2]
# as `tritonctl build -m linear -m digits -m digits_preprocess -m digits_postprocess -m digits_pipeline`
# writes them (each of linear and digits in both formats)
MODELS = ["linear", "linear_torchscript", "digits", "digits_torchscript", "digits_preprocess",
          "digits_postprocess", "digits_pipeline"]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# the shared server helpers (start_server / stop_server / run_tritonctl), not the integration fixtures
integration = _load("_serverkit", ROOT / "tests" / "integration" / "serverkit.py")
digit_samples = _load("_digit_samples", ROOT / "loadtest" / "digit_samples.py")


@pytest.fixture(scope="session")
def lt_repo(copy_example_models, tmp_path_factory) -> Path:
    repo = copy_example_models(MODELS, tmp_path_factory.mktemp("lt_repo") / "model_repository")
    slow_model.write(repo)
    return repo


@pytest.fixture(scope="session")
def lt_server(lt_repo, tmp_path_factory):
    served = integration.start_server(lt_repo, tmp_path_factory.mktemp("lt_server"))
    try:
        yield served
    finally:
        integration.stop_server(served)


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> Path:
    """examples/digits_samples when it exists, else PNGs from sklearn's digits test split."""
    shipped = ROOT / "examples" / "digits_samples"
    if any(shipped.glob("*.png")):
        return shipped
    out = tmp_path_factory.mktemp("digits_samples")
    digit_samples.write_samples(out, 12)
    return out


@contextlib.contextmanager
def _locust_ui(server, log_dir: Path, *args: str):
    """`locust -f loadtest/locustfile.py` with its web UI on a free port, aimed at ``server``;
    yields the UI's URL once it answers, and stops it on the way out."""
    from tritonctl.bench.locust_run import locustfile_path
    from tritonctl.process import stop_child, wait_http

    port = integration.free_port()
    base, log_path = f"http://127.0.0.1:{port}", log_dir / f"locust-ui-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--web-host", "127.0.0.1", "--web-port",
             str(port), "--host", f"http://{server.http_url}", "--grpc-host", server.grpc_url, *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            try:
                wait_http(base + "/", 60, proc, "the Locust UI")
            except RuntimeError as exc:
                pytest.fail(f"{exc}; its log:\n{log_path.read_text()}")
            yield base
        finally:
            stop_child(proc, timeout=30)


@pytest.fixture
def locust_ui(lt_server, tmp_path):
    """`with locust_ui(*locust_args) as base:` the Locust web UI on the load tests' Triton."""
    return functools.partial(_locust_ui, lt_server, tmp_path)
