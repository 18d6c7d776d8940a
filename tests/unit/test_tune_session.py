"""The tune session as a library call: a request is validated and laid out before anything is measured."""

from __future__ import annotations


import pytest

from tritonctl.tune.candidates import TuneError
from tritonctl.tune.session import TuneRequest, TuneSession
from example_specs import linear_entry

SPEC = ("repository: repo\nmodels:\n" + linear_entry("linear", "formats: [onnx, torchscript]", "max_batch_size: 8")
        + linear_entry("single", "max_batch_size: 0"))

UNREACHABLE = dict(http_url="127.0.0.1:9", grpc_url="127.0.0.1:9")


@pytest.fixture
def spec_path(tmp_path):
    p = tmp_path / "models.yaml"
    p.write_text(SPEC)
    return p


def test_the_default_grid_spans_half_equal_and_double_the_specs_max_batch_size_for_each_served_format(spec_path):
    s = TuneSession(TuneRequest("linear", spec_path=spec_path, queue_delays_us=[0], instance_counts=[1], **UNREACHABLE))
    assert s.names == {"onnx": "linear", "torchscript": "linear_torchscript"}
    assert {(c.format, c.max_batch_size) for c in s.candidates} == {
        (f, b) for f in ("onnx", "torchscript") for b in (4, 8, 16)
    }
    assert s.repository == spec_path.parent / "repo"


@pytest.mark.parametrize("over, message", [
    ({"model": "nope"}, "no model named 'nope'"),
    ({"model": "single"}, "max_batch_size 0"),
    ({"formats": ["tensorrt"]}, "--formats ['tensorrt']: model 'linear' publishes only ['onnx', 'torchscript']"),
    ({"p99_budget_ms": 0}, "--p99-budget must be positive"),
    ({"concurrencies": [1], "queue_delays_us": []}, "at least one value for queue delays"),
])
def test_a_bad_request_is_refused_before_any_measurement_naming_the_option(spec_path, over, message):
    with pytest.raises(TuneError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TuneSession(TuneRequest(**{"model": "linear", "spec_path": spec_path, **UNREACHABLE, **over}))


def test_write_without_a_models_yaml_is_refused(tmp_path):
    with pytest.raises(TuneError, match="--write needs models.yaml"):
        TuneSession(TuneRequest("linear", spec_path=tmp_path / "missing.yaml", write=True, **UNREACHABLE))


def test_without_a_models_yaml_the_served_names_follow_the_build_convention(tmp_path):
    s = TuneSession(TuneRequest("linear", spec_path=tmp_path / "missing.yaml", **UNREACHABLE))
    assert s.names == {"onnx": "linear", "torchscript": "linear_torchscript"} and s.repository is None


def test_a_server_that_does_not_answer_is_named(spec_path):
    s = TuneSession(TuneRequest("linear", spec_path=spec_path, duration_s=0.1, warmup_s=0, max_candidates=1,
                                **UNREACHABLE))
    with pytest.raises(Exception, match="127.0.0.1:9"):
        s.run()
