"""`tritonctl import` on bad archives: one clear line naming the archive and the fix, exit 2,
and nothing written (no models.yaml, no imported/ directory, no staging leftovers)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ts_archives

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    work = tmp_path_factory.mktemp("archives")
    return {"mnist": ts_archives.mnist(work / "store", work), "work": work}


def run_import(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tritonctl", "import", *args, "--spec", str(project / "models.yaml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def assert_nothing_written(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == [], "a failed import must leave the project untouched"


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "project"
    p.mkdir()
    return p


def test_a_corrupt_zip_is_named_with_the_fix(project, tmp_path):
    bad = tmp_path / "broken.mar"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    proc = run_import(project, str(bad))
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}: not a readable zip archive" in proc.stderr
    assert "torch-model-archiver" in proc.stderr
    assert_nothing_written(project)


def test_a_manifest_without_a_handler_is_named_with_the_fix(project, store, tmp_path):
    bad = ts_archives.rewrite_manifest(store["mnist"], tmp_path / "nohandler.mar", lambda m: m["model"].pop("handler"))
    proc = run_import(project, str(bad))
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}: MAR-INF/MANIFEST.json names no handler" in proc.stderr
    assert "--handler" in proc.stderr
    assert_nothing_written(project)


def test_a_handler_that_fails_to_import_names_the_missing_module(project, store):
    bad = ts_archives.archiver("broken", store["work"] / "bad", str(ts_archives.HANDLERS / "broken_handler.py"),
                               serialized=store["work"] / "mnist_cnn.pt", model_file=ts_archives.HANDLERS / "digits_model.py")
    proc = run_import(project, str(bad))
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert str(bad) in line and "tritonctl_no_such_package" in line and "install what it imports" in line
    assert_nothing_written(project)


def test_a_serialized_file_that_does_not_fit_the_model_class_is_named(project, store, tmp_path):
    import torch

    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)  # not DigitsNet's state_dict
    bad = ts_archives.archiver("wrongweights", store["work"] / "bad", str(ts_archives.HANDLERS / "mnist_handler.py"),
                               serialized=wrong, model_file=ts_archives.HANDLERS / "digits_model.py")
    proc = run_import(project, str(bad))
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}: serialized file 'wrong.pt' does not load into the class of digits_model.py" in proc.stderr
    assert "Missing key(s)" in proc.stderr and "torch.save(model.state_dict()" in proc.stderr
    assert_nothing_written(project)


def test_a_directory_without_archives_is_refused(project, tmp_path):
    empty = tmp_path / "store"
    empty.mkdir()
    proc = run_import(project, str(empty))
    assert proc.returncode == 2
    assert f"{empty}: holds neither MAR-INF/MANIFEST.json nor any .mar archive" in proc.stderr
    assert_nothing_written(project)


def test_a_second_import_under_a_taken_name_is_refused_and_keeps_the_first(project, store):
    first = run_import(project, str(store["mnist"]))
    assert first.returncode == 0, first.stderr
    before = (project / "models.yaml").read_text()
    again = run_import(project, str(store["mnist"]))
    assert again.returncode == 2
    assert "already exists; pass --force to replace it, or --name NEW" in again.stderr
    assert (project / "models.yaml").read_text() == before
    assert not [p for p in project.iterdir() if p.name.startswith(".")], "no staging directory may be left behind"
    renamed = run_import(project, str(store["mnist"]), "--name", "digits_again")
    assert renamed.returncode == 0, renamed.stderr
    from tritonctl import spec

    names = [m.name for m in spec.load(project / "models.yaml").models]
    assert names.count("mnist") == 1 and "digits_again" in names
    assert (project / "models.yaml").read_text().startswith(before.rstrip("\n")), "the user's text must be kept as it was"


def test_a_manifest_that_is_not_json_is_named(project, store, tmp_path):
    bad = tmp_path / "badjson.mar"
    with zipfile.ZipFile(store["mnist"]) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, b"{not json" if info.filename.endswith("MANIFEST.json") else zin.read(info))
    proc = run_import(project, str(bad))
    assert proc.returncode == 2
    assert f"{bad}: MAR-INF/MANIFEST.json is not valid JSON" in proc.stderr
    assert_nothing_written(project)


def test_the_builtin_image_classifier_names_torchvision_when_it_cannot_import(project, store):
    # TorchServe's vision handlers import torchvision; PyPI's torchvision does not import beside
    # .venv's CPU torch 2.13, so the import stops and points at .venv-vision (test_import_vision).
    try:
        import torchvision  # noqa: F401
    except Exception:
        pass
    else:
        pytest.fail("torchvision imports in .venv now: this error path needs an environment without it")
    mar = ts_archives.archiver("imagenet_like", store["work"] / "vision", "image_classifier",
                               serialized=store["work"] / "mnist_cnn.pt", model_file=ts_archives.HANDLERS / "digits_model.py")
    proc = run_import(project, str(mar))
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert str(mar) in line and "handler 'image_classifier' does not import" in line and "torchvision" in line
    assert "make vision-install" in line
    assert_nothing_written(project)


def test_a_model_store_imports_every_archive_it_holds(project, store):
    ts_archives.mnist(store["work"] / "two", store["work"], name="digits_a")
    ts_archives.mnist(store["work"] / "two", store["work"], name="digits_b", handler="ensemble_handler.py")
    proc = run_import(project, str(store["work"] / "two"))
    assert proc.returncode == 0, proc.stderr
    from tritonctl import spec

    models = {m.name: m for m in spec.load(project / "models.yaml").models}
    assert models["digits_a"].kind == "ensemble" and models["digits_b"].kind == "python"
    assert "not split because inference() calls the model 2 times" in proc.stdout
    assert sorted(p.name for p in (project / "imported").iterdir()) == ["digits_a", "digits_b"]
