"""Real archives (made by the real torch-model-archiver) imported, built, and served side by side:
the archives on a real TorchServe, the import on the local Triton, one of each for the module,
the same request bodies to both, the answers compared (labels exact, scores within tolerance)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ts_archives
from tritonctl import build, spec as spec_mod
from tritonctl.importer import import_archives
from tritonctl.importer.verify import Triton, TorchServe, difference

pytestmark = pytest.mark.integration
ROOT = ts_archives.ROOT
SENTENCES = [b"The movie was wonderful!", b"the plot was thin, but the actors were very good", b"boring and terrible"]

BATCHING_PROPS = """
inference_address=http://127.0.0.1:8080
number_of_netty_threads=4
models={"mnist_batched": {"1.0": {"marName": "mnist_batched.mar", "batchSize": 4, "maxBatchDelay": 100,\\
  "minWorkers": 2, "maxWorkers": 2, "responseTimeout": 60}}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("import-served")
    store = work / "store"
    archives = {
        "mnist": ts_archives.mnist(store, work),
        "mnist_batched": ts_archives.mnist(store, work, name="mnist_batched"),
        "linear_ts": ts_archives.torchscript(store, work),
        "sentiment": ts_archives.text_classifier(store, work),
        "flip_avg": ts_archives.mnist(store, work, name="flip_avg", handler="ensemble_handler.py"),
    }
    bodies = [work / "body0.bin", work / "body1.bin"]
    for i, p in enumerate(bodies):
        p.write_bytes(ts_archives.float_body(i))
    props = work / "config.properties"
    props.write_text(BATCHING_PROPS)
    project = work / "project"
    project.mkdir()
    spec_path = project / "models.yaml"
    digits = ts_archives.DIGITS[:2]
    results = {}
    for name, options in {
        "mnist": {"samples": digits},
        "mnist_batched": {"samples": digits, "config": props},
        "linear_ts": {"samples": bodies},
        "sentiment": {"content_type": "text/plain"},
        "flip_avg": {"samples": digits},
    }.items():
        (results[name],) = import_archives(archives[name], spec_path, **options)
    spec = spec_mod.load(spec_path)
    build.build(spec, project / "model_repository")
    with TorchServe(ts_archives.PEERS_VENV, list(archives.values()), work / "torchserve") as ts, \
            Triton(project / "model_repository", work / "triton") as triton:
        yield {"ts": ts, "triton": triton, "results": results, "spec": spec, "project": project, "archives": archives}


def same_answers(served, model: str, bodies: list[bytes], content_type: str = "application/octet-stream") -> list[bytes]:
    answers = []
    for body in bodies:
        status, want = served["ts"].predict(model, body, content_type)
        assert status == 200, want
        got = served["triton"].predict(model, body)
        assert difference(want, got) is None, f"{model}: TorchServe {want!r} vs Triton {got!r}"
        answers.append(got)
    return answers


def test_the_seed_style_mnist_handler_splits_into_an_ensemble_that_answers_like_torchserve(served):
    r = served["results"]["mnist"]
    assert r.split and r.models == ["mnist_model", "mnist_preprocess", "mnist_postprocess", "mnist"]
    model = served["spec"].model("mnist_model")
    assert model.source.class_ == "imported.mnist.archive.digits_model:DigitsNet"
    assert [(t.dtype, t.shape) for t in model.inputs] == [("float32", [1, 28, 28])]
    assert [(t.dtype, t.shape) for t in model.outputs] == [("float32", [10])]
    assert not (served["project"] / "imported/mnist/handler/mnist_cnn.pt").exists(), "pre/post steps travel without the weights"
    answers = same_answers(served, "mnist", [p.read_bytes() for p in ts_archives.DIGITS])
    labels = [json.loads(a) for a in answers]
    assert sum(label == int(p.stem[-1]) for label, p in zip(labels, ts_archives.DIGITS)) >= 7, labels


def test_a_torchscript_archive_becomes_a_torchscript_source_exported_to_onnx(served):
    r = served["results"]["linear_ts"]
    assert r.split
    model = served["spec"].model("linear_ts_model")
    assert str(model.source.torchscript).endswith("imported/linear_ts/archive/linear.pt")
    assert model.formats == ["onnx", "torchscript"]
    # the benchmark handler takes raw float32 bodies (its model-config.yaml gives the shape)
    answers = same_answers(served, "linear_ts", [ts_archives.float_body(seed) for seed in range(5)])
    assert len(json.loads(answers[0])) == 2


def test_the_builtin_text_classifier_is_kept_whole_and_says_why(served):
    r = served["results"]["sentiment"]
    assert not r.split and r.models == ["sentiment"]
    assert "only tensors can pass from one Triton model to the next" in r.reasons[0]
    m = served["spec"].model("sentiment")
    assert m.kind == "python" and m.parameters["role"] == "whole" and m.parameters["body_as"] == "text"
    assert (served["project"] / "imported/sentiment/requirements.txt").read_text() == "captum==0.9.0\n"
    answers = same_answers(served, "sentiment", SENTENCES, "text/plain")
    assert set(json.loads(answers[0])) == {"negative", "positive"}


def test_a_handler_whose_inference_calls_the_model_twice_is_kept_whole(served):
    r = served["results"]["flip_avg"]
    assert not r.split
    assert r.reasons == ["inference() calls the model 2 times"]
    same_answers(served, "flip_avg", [p.read_bytes() for p in ts_archives.DIGITS[:4]])


def test_config_properties_batching_reaches_the_served_configs_and_batches(served):
    r = served["results"]["mnist_batched"]
    assert "batchSize 4 -> max_batch_size 4" in r.mapped
    assert any(line.startswith("inference_address=") for line in r.unmapped)
    import tritonclient.http as httpclient

    with httpclient.InferenceServerClient(served["triton"].http_url) as client:
        config = client.get_model_config("mnist_batched_model")
        assert config["max_batch_size"] == 4
        assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 100_000
        assert config["dynamic_batching"]["default_queue_policy"]["default_timeout_microseconds"] == 60_000_000
        assert config["instance_group"][0]["count"] == 2
        bodies = [p.read_bytes() for p in ts_archives.DIGITS] * 2
        with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
            got = list(pool.map(lambda b: served["triton"].predict("mnist_batched", b), bodies))
        for body, answer in zip(bodies, got):
            status, want = served["ts"].predict("mnist_batched", body)
            assert status == 200 and difference(want, answer) is None
        stats = client.get_inference_statistics("mnist_batched_model")["model_stats"][0]
        sizes = {b["batch_size"] for b in stats["batch_stats"]}
        assert max(sizes) > 1, f"concurrent requests through the ensemble were never batched: {stats['batch_stats']}"


def test_the_written_models_yaml_reads_on_its_own(served):
    text = (served["project"] / "models.yaml").read_text()
    assert "&id" not in text, "no YAML anchors: each entry reads on its own"
    raw = yaml.safe_load(text)
    assert [m["name"] for m in raw["models"]][:4] == ["mnist_model", "mnist_preprocess", "mnist_postprocess", "mnist"]


def test_import_verify_from_the_command_line(tmp_path, served):
    project = tmp_path / "cli"
    project.mkdir()
    bodies = []
    for seed in (7, 8):
        bodies += ["--sample", str(tmp_path / f"b{seed}.bin")]
        (tmp_path / f"b{seed}.bin").write_bytes(ts_archives.float_body(seed))
    proc = subprocess.run(
        [sys.executable, "-m", "tritonctl", "import", str(served["archives"]["linear_ts"]), "--spec",
         str(project / "models.yaml"), "--verify", *bodies],
        # from the user's own project, with no --peers-venv: the checkout's .venv-peers is found from the
        # package's location (it was looked for under the current directory only)
        capture_output=True, text=True, cwd=project, timeout=900,
        env={k: v for k, v in os.environ.items() if k != "TRITONCTL_TORCHSERVE"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: 2/2 answers agree" in proc.stdout
    assert (project / "model_repository" / "linear_ts" / "config.pbtxt").exists()
