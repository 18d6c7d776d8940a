"""Suite-wide rules and fixtures: `gpu` tests skip cleanly where there is no CUDA device; the
example repository is built once per session for every suite that serves it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    gpu_items = [i for i in items if i.get_closest_marker("gpu")]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA (none visible here)")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def example_build(tmp_path_factory) -> Path:
    """`tritonctl build models.yaml` into a temporary repository, as a user runs it, once per
    session: the integration, load-test and chart suites copy the models they serve from it
    (never change it in place)."""
    repo = tmp_path_factory.mktemp("example-build") / "model_repository"
    res = subprocess.run([sys.executable, "-m", "tritonctl", "build", "models.yaml", "--repository", str(repo)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    if res.returncode != 0:
        pytest.fail(f"tritonctl build failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return repo


#: the digits pipeline: the ensemble and the three models it calls (quick to load)
DIGITS_PIPELINE = ("digits", "digits_preprocess", "digits_postprocess", "digits_pipeline")


@pytest.fixture(scope="session")
def copy_example_models(example_build):
    """copy(names, repo) -> repo: the named models of the session's example build copied into
    repo, a repository of the test's own to serve or change (the build itself is never changed).
    ``copy.DIGITS_PIPELINE`` names the pipeline's four models."""
    def copy(names, repo: Path) -> Path:
        for name in names:
            shutil.copytree(example_build / name, repo / name)
        return repo

    copy.DIGITS_PIPELINE = DIGITS_PIPELINE
    return copy
