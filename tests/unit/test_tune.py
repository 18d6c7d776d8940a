"""tritonctl tune: the search space, the objective, the models.yaml patch, restore on every exit."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tritonctl.tune import writeback
from tritonctl.bench.stability import Window as BenchWindow
from tritonctl.bench.stability import merge
from tritonctl.tune.candidates import Candidate, SearchSpace, TuneError, parse_int_list, parse_preferred, preferred_for
from tritonctl.tune.measure import LevelResult, measure_window
from tritonctl.tune.objective import Result, closest_miss, pick_winner, qualifies
from tritonctl.tune.runner import Served, Tuner, run_sweep
from example_specs import linear_entry

ROOT = Path(__file__).resolve().parents[2]


def win(c, thr, p99, errors=0, requests=100):
    return LevelResult(concurrency=c, requests=requests, samples=requests, errors=errors, throughput=thr, p99_ms=p99, p50_ms=p99 / 2)


# -- search space ----------------------------------------------------------------------------
def test_grid_is_the_product_of_the_axes_without_duplicates():
    space = SearchSpace(formats=["onnx", "torchscript"], max_batch_sizes=[8, 4, 8], queue_delays_us=[0, 500], instance_counts=[1, 2])
    cands = space.candidates()
    assert len(cands) == 2 * 2 * 2 * 2
    assert len(set(cands)) == len(cands)
    assert cands[0] == Candidate("onnx", 4, (2, 4), 0, 1)  # simplest first


def test_preferred_sizes_default_to_half_and_full_and_are_clipped_to_the_max_batch():
    assert preferred_for(8) == (4, 8)
    assert preferred_for(2) == (2,)
    assert preferred_for(1) == ()
    cands = SearchSpace(max_batch_sizes=[4], queue_delays_us=[0], preferred=[(4, 8), ()]).candidates()
    assert [c.preferred_batch_size for c in cands] == [(4,), ()]


def test_limit_cuts_the_grid():
    assert len(SearchSpace(max_batch_sizes=[2, 4, 8], limit=2).candidates()) == 2


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"format": "tensorrt", "max_batch_size": 8}, "format"),
        ({"format": "onnx", "max_batch_size": 0}, "max_batch_size"),
        ({"format": "onnx", "max_batch_size": 4, "preferred_batch_size": (8,)}, "preferred"),
        ({"format": "onnx", "max_batch_size": 4, "instance_count": 0}, "instance"),
    ],
)
def test_a_bad_candidate_names_its_field(kwargs, field):
    with pytest.raises(TuneError, match=field):
        Candidate(**kwargs)


def test_option_parsers_name_the_option():
    assert parse_int_list("1, 4,16", "--concurrency") == [1, 4, 16]
    with pytest.raises(TuneError, match="--concurrency"):
        parse_int_list("1,x", "--concurrency")
    assert parse_preferred("4,8;8;-") == [(4, 8), (8,), ()]
    with pytest.raises(TuneError, match="formats"):
        SearchSpace(formats=["plan"])


def test_candidate_config_changes_only_serving_settings():
    from tritonclient.grpc import model_config_pb2 as mc

    base = mc.ModelConfig(name="digits", platform="onnxruntime_onnx", max_batch_size=32)
    base.input.add(name="image", data_type=mc.TYPE_FP32, dims=[1, 28, 28])
    base.instance_group.add(count=3, kind=mc.ModelInstanceGroup.KIND_CPU)
    base.model_warmup.add(name="w", batch_size=32)
    cfg = Candidate("onnx", 8, (4, 8), 1500, 2).apply(base)
    assert cfg.max_batch_size == 8 and list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 1500
    assert [g.count for g in cfg.instance_group] == [2]
    assert cfg.model_warmup[0].batch_size == 8  # a warmup above the new max would fail the load
    assert cfg.input[0].name == "image" and base.max_batch_size == 32  # base untouched


def test_a_thread_axis_sets_each_formats_own_parameter_and_nothing_else():
    from tritonclient.grpc import model_config_pb2 as mc

    cands = SearchSpace(formats=["onnx", "torchscript"], max_batch_sizes=[8], queue_delays_us=[0],
                        thread_counts=[2, 1, 2]).candidates()
    assert [(c.format, c.threads) for c in cands] == [("onnx", 1), ("onnx", 2), ("torchscript", 1), ("torchscript", 2)]
    assert "thr=1" in cands[0].label
    base = mc.ModelConfig(name="digits", platform="onnxruntime_onnx", max_batch_size=32)
    base.parameters["description"].string_value = "kept"
    onnx_cfg = cands[0].apply(base)
    assert dict((k, v.string_value) for k, v in onnx_cfg.parameters.items()) == {
        "description": "kept", "intra_op_thread_count": "1"}
    ts_cfg = cands[3].apply(base)
    assert ts_cfg.parameters["INTRA_OP_THREAD_COUNT"].string_value == "2"
    assert "intra_op_thread_count" not in ts_cfg.parameters
    # without the axis, the config's own thread setting stays as it is
    plain = SearchSpace(max_batch_sizes=[8], queue_delays_us=[0]).candidates()[0]
    assert plain.threads is None and "thr=" not in plain.label
    assert "intra_op_thread_count" not in plain.apply(base).parameters
    with pytest.raises(TuneError, match="threads"):
        Candidate("onnx", 8, threads=0)


# -- objective -------------------------------------------------------------------------------
def test_the_winner_has_the_most_throughput_within_the_p99_budget():
    a = Result(Candidate("onnx", 8), [win(1, 100, 5), win(16, 900, 80)])  # 900/s but p99 80 ms
    b = Result(Candidate("onnx", 16), [win(1, 120, 4), win(16, 600, 40)])
    assert a.score(50) == 100 and b.score(50) == 600
    assert pick_winner([a, b], 50) is b
    assert pick_winner([a, b], 100) is a


def test_windows_with_errors_or_no_requests_never_qualify():
    assert not qualifies(win(1, 1000, 1, errors=1), 50)
    assert not qualifies(win(1, 0, float("nan"), requests=0), 50)
    failed = Result(Candidate("torchscript", 8), error="failed to load: bad config")
    ok = Result(Candidate("onnx", 8), [win(1, 10, 10)])
    assert pick_winner([failed, ok], 50) is ok


def test_no_winner_when_nothing_fits_and_the_closest_miss_is_reported():
    a = Result(Candidate("onnx", 8), [win(1, 100, 70)])
    b = Result(Candidate("onnx", 16), [win(1, 200, 90)])
    assert pick_winner([a, b], 50) is None
    assert closest_miss([a, b]) is a


def test_ties_go_to_the_lower_p99_then_the_earlier_candidate():
    a = Result(Candidate("onnx", 8), [win(4, 500, 30)])
    b = Result(Candidate("onnx", 16), [win(4, 500, 20)])
    c = Result(Candidate("onnx", 32), [win(4, 500, 20)])
    assert pick_winner([a, b, c], 50) is b


def test_the_budget_must_be_positive():
    with pytest.raises(ValueError):
        pick_winner([], 0)


# -- the load generator ----------------------------------------------------------------------
def test_a_fixed_window_counts_samples_and_percentiles():
    # one fixed window (no stability rule): 100 requests carrying 200 samples in 2 s
    m = merge([BenchWindow(0.0, 2.0, [0.001] * 99 + [0.1], samples=200)], None)
    w = LevelResult.from_measurement(2, m)
    assert w.throughput == 100 and w.requests == 100 and w.samples == 200
    assert w.p50_ms == pytest.approx(1.0) and w.p99_ms > 1.0


def test_measure_window_counts_the_samples_a_request_function_returns():
    async def req():
        return 2

    w = asyncio.run(measure_window(req, concurrency=3, duration=0.2, warmup=0.05))
    assert w.concurrency == 3 and w.requests > 0 and w.samples == 2 * w.requests and w.errors == 0
    # the window lasts at least its duration (a busy machine only stretches it; the figures use
    # the measured length, so no upper bound on wall-clock time is asserted)
    assert w.throughput == pytest.approx(w.samples / w.seconds) and w.seconds >= 0.2 * 0.99

    async def plain():  # returns nothing: one sample per request
        await asyncio.sleep(0)

    w = asyncio.run(measure_window(plain, concurrency=1, duration=0.1, warmup=0.0))
    assert w.requests > 0 and w.samples == w.requests
    with pytest.raises(ValueError):
        asyncio.run(measure_window(req, concurrency=0, duration=0.1))


def test_measure_window_counts_errors_instead_of_crashing():
    async def bad():
        raise RuntimeError("boom")

    w = asyncio.run(measure_window(bad, concurrency=2, duration=0.1, warmup=0.0))
    assert w.requests == 0 and w.errors > 0 and "boom" in w.first_error and math.isnan(w.p99_ms)


# -- models.yaml patch -----------------------------------------------------------------------
SPEC = (
    "# top comment\nrepository: repo\n\nmodels:\n  # the first model\n"
    + linear_entry("linear", "formats: [onnx, torchscript]", "max_batch_size: 8   # why eight", "dynamic_batching:",
                   "  max_queue_delay_microseconds: 100", "  preserve_ordering: true")
    + "\n  # a second model, untouched\n"
    + linear_entry("other", "max_batch_size: 4")
)


def test_patch_edits_only_the_models_block_and_keeps_comments(tmp_path):
    old = SPEC
    raw = yaml.safe_load(old)["models"][0]
    new = writeback.patch_text(old, "linear", writeback.desired_values(raw, Candidate("onnx", 16, (8, 16), 500, 2)))
    assert "# top comment" in new and "# the first model" in new and "# why eight" in new
    assert "# a second model, untouched" in new
    data = yaml.safe_load(new)
    lin, other = data["models"]
    assert lin["max_batch_size"] == 16
    assert lin["dynamic_batching"] == {"max_queue_delay_microseconds": 500, "preserve_ordering": True, "preferred_batch_size": [8, 16]}
    assert lin["instance_groups"] == [{"count": 2}]
    assert "serve" not in lin
    assert other == yaml.safe_load(old)["models"][1]
    # lines outside the block are byte-identical
    tail = old.split("  # a second model")[1]
    assert new.endswith(tail)


def test_patch_writes_a_winning_thread_count_beside_the_other_parameters(tmp_path):
    spec_path = tmp_path / "models.yaml"
    with_params = SPEC.replace("max_batch_size: 8   # why eight\n", "max_batch_size: 8   # why eight\n    parameters: {note: kept}\n")
    assert with_params != SPEC
    spec_path.write_text(with_params)
    old, new, spec = writeback.plan_models_yaml(spec_path, "linear", Candidate("onnx", 8, (4, 8), 100, 1, threads=1))
    lin = yaml.safe_load(new)["models"][0]
    assert lin["parameters"] == {"note": "kept", "intra_op_thread_count": "1"}
    assert "# why eight" in new
    from tritonctl import config

    cfg = config.parse(writeback.repository_configs(spec, "linear")["linear"])
    assert cfg.parameters["intra_op_thread_count"].string_value == "1"


def test_patch_switches_serve_when_the_other_format_wins():
    raw = yaml.safe_load(SPEC)["models"][0]
    values = writeback.desired_values(raw, Candidate("torchscript", 8, (4, 8), 100, 1))
    assert values["serve"] == "torchscript" and "instance_groups" not in values
    new = writeback.patch_text(SPEC, "linear", values)
    assert yaml.safe_load(new)["models"][0]["serve"] == "torchscript"


def test_patch_refuses_a_model_it_cannot_find():
    with pytest.raises(TuneError, match="nope"):
        writeback.patch_text(SPEC, "nope", {"max_batch_size": 4})


def test_plan_validates_with_the_spec_loader_and_repository_configs_follow(tmp_path):
    spec_path = tmp_path / "models.yaml"
    spec_path.write_text(SPEC)
    old, new, spec = writeback.plan_models_yaml(spec_path, "linear", Candidate("onnx", 16, (8, 16), 500, 2))
    assert old == SPEC and spec_path.read_text() == SPEC  # planning writes nothing
    configs = writeback.repository_configs(spec, "linear")
    assert set(configs) == {"linear", "linear_torchscript"}
    from tritonctl import config

    cfg = config.parse(configs["linear"])
    assert cfg.max_batch_size == 16 and list(cfg.dynamic_batching.preferred_batch_size) == [8, 16]
    assert cfg.instance_group[0].count == 2
    with pytest.raises(TuneError, match="does not exist"):
        writeback.write_repository(tmp_path / "repo", configs)
    for name in configs:
        (tmp_path / "repo" / name).mkdir(parents=True)
    written = writeback.write_repository(tmp_path / "repo", configs)
    assert all(p.read_text() == configs[p.parent.name] for p in written)


# -- restore on every exit -------------------------------------------------------------------
class FakeTuner(Tuner):
    """A Tuner without a server: records the repository API calls."""

    def __init__(self, fail_on=None, interrupt_on=None):
        self.calls = []
        self.fail_on, self.interrupt_on = fail_on, interrupt_on
        self.names = {"onnx": "m", "torchscript": "m_torchscript"}
        self.original = {}
        self.base = {}

    def prepare(self):
        self.original = {"m": Served("m", True, "CFG"), "m_torchscript": Served("m_torchscript", False, None)}

    def _load(self, name, cfg=None):
        self.calls.append(("load", name, cfg))

    def restore(self):
        for name, s in self.original.items():
            self.calls.append(("restore", name, s.config if s.loaded else "unload"))
        return []

    def measure(self, cand):
        if cand.max_batch_size == self.interrupt_on:
            raise KeyboardInterrupt
        if cand.max_batch_size == self.fail_on:
            return Result(cand, error="failed to load: bad")
        return Result(cand, [win(1, cand.max_batch_size, 1)])


def test_sweep_skips_failed_candidates_and_restores_after():
    t = FakeTuner(fail_on=4)
    results = run_sweep(t, [Candidate("onnx", 4), Candidate("onnx", 8)])
    assert [r.ok for r in results] == [False, True]
    assert ("restore", "m", "CFG") in t.calls and ("restore", "m_torchscript", "unload") in t.calls


def test_interrupt_restores_the_served_models():
    t = FakeTuner(interrupt_on=8)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(t, [Candidate("onnx", 4), Candidate("onnx", 8), Candidate("onnx", 16)])
    assert ("restore", "m", "CFG") in t.calls and ("restore", "m_torchscript", "unload") in t.calls


def test_a_written_winner_is_reloaded_from_disk_the_rest_restored():
    t = FakeTuner()
    run_sweep(t, [Candidate("onnx", 4)], after=lambda results: ["m"])
    assert ("load", "m", None) in t.calls
    assert ("restore", "m", "CFG") not in t.calls and ("restore", "m_torchscript", "unload") in t.calls


# -- the CLI ---------------------------------------------------------------------------------
def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "tritonctl", "tune", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_help_lists_the_search_axes():
    r = _cli("--help")
    assert r.returncode == 0
    for opt in ("--p99-budget", "--max-batch-sizes", "--queue-delays", "--instances", "--formats", "--write"):
        assert opt in r.stdout


def test_cli_names_an_unknown_model_and_a_missing_server(tmp_path):
    spec = tmp_path / "models.yaml"
    spec.write_text(SPEC)
    r = _cli("nope", "--spec", str(spec), cwd=tmp_path)
    assert r.returncode != 0 and "no model named 'nope'" in r.stderr
    r = _cli("linear", "--spec", str(spec), "--url", "127.0.0.1:9", "--duration", "0.1", cwd=tmp_path)
    assert r.returncode != 0 and "no Triton answers at 127.0.0.1:9" in r.stderr
    assert spec.read_text() == SPEC


def test_a_second_interrupt_during_restore_does_not_cut_it_short():
    import os
    import signal

    class Impatient(FakeTuner):
        def restore(self):
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again
            return super().restore()

    t = Impatient(interrupt_on=4)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(t, [Candidate("onnx", 4)])
    assert ("restore", "m", "CFG") in t.calls and ("restore", "m_torchscript", "unload") in t.calls
    assert signal.getsignal(signal.SIGINT) is before
