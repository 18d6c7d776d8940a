"""A tune winner whose max_batch_size is below the spec's warm-up batch sizes: the sweep serves and the
writeback writes the same fitted warm-ups (one rule), the report says which sizes were dropped, and a
writeback that fails keeps the sweep's table and JSON and says what to set by hand."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import yaml
from rich.console import Console

from tritonctl import config
from tritonctl import spec as spec_mod
from tritonctl.tune import report, runner, writeback
from tritonctl.tune.candidates import Candidate, fit_warmup_sizes
from tritonctl.tune.measure import LevelResult
from tritonctl.tune.objective import Result
from tritonctl.tune.session import WRITE_FAILED_EXIT, TuneRequest, TuneSession
from example_specs import linear_entry

SPEC = "repository: repo\nmodels:\n" + linear_entry(
    "linear", "max_batch_size: 32", "warmup: {batch_sizes: WARMUPS, count: 2}   # warm the big batches too")


def spec_with(tmp_path, warmups):
    path = tmp_path / "models.yaml"
    path.write_text(SPEC.replace("WARMUPS", json.dumps(warmups)))
    return path


def warmups_of(cfg) -> list[tuple[str, int]]:
    return [(w.name, w.batch_size) for w in cfg.model_warmup]


def test_the_fit_keeps_the_sizes_that_fit_and_falls_back_to_the_max_batch():
    assert fit_warmup_sizes([1, 8, 32], 16) == ([1, 8], [32])
    assert fit_warmup_sizes([1, 16], 16) == ([1, 16], [])
    assert fit_warmup_sizes([32, 64], 16) == ([16], [32, 64])  # a warmed model stays warmed


@pytest.mark.parametrize("warmups, fitted", [([1, 8, 32], [1, 8]), ([24, 32], [16])])
def test_a_winner_below_the_warmup_sizes_is_written_with_the_warmups_it_was_served_with(tmp_path, warmups, fitted):
    path = spec_with(tmp_path, warmups)
    served_before = config.model_config(spec_mod.load(path).model("linear"), "onnx")  # what Triton serves
    winner = Candidate("onnx", 16, (8, 16), 500, 1)

    old, new, patched = writeback.plan_models_yaml(path, "linear", winner)

    entry = yaml.safe_load(new)["models"][0]
    assert entry["warmup"] == {"batch_sizes": fitted, "count": 2} and entry["max_batch_size"] == 16
    assert "# warm the big batches too" in new  # the comment on the patched line stays
    written = config.parse(writeback.repository_configs(patched, "linear")["linear"])
    swept = winner.apply(served_before)
    assert [b for _, b in warmups_of(written)] == fitted
    assert warmups_of(swept) == warmups_of(written)  # the sweep measured what gets written
    assert [w.count for w in swept.model_warmup] == [2] * len(fitted)


def test_a_spec_whose_warmups_fit_keeps_its_warmup_line(tmp_path):
    path = spec_with(tmp_path, [1, 8])
    _, new, _ = writeback.plan_models_yaml(path, "linear", Candidate("onnx", 16, (8, 16), 500, 1))
    assert "warmup: {batch_sizes: [1, 8], count: 2}   # warm the big batches too" in new


class OfflineTuner(runner.Tuner):
    """The sweep without a server: each candidate is 'served' as ``Candidate.apply`` of the config the
    repository holds (built from models.yaml, as Triton would load it); throughput grows with the max batch.
    ``during`` runs at the first measurement (the user editing models.yaml while the sweep runs)."""

    spec_path = None
    during = None

    def __init__(self, names, **_):
        self.names, self.original, self.base, self.loaded = names, {}, {}, []

    def prepare(self):
        m = spec_mod.load(self.spec_path).model("linear")
        for fmt, name in self.names.items():
            self.base[fmt] = config.model_config(m, fmt)
            self.original[name] = runner.Served(name, True, self.base[fmt])

    def _load(self, name, cfg=None):
        self.loaded.append((name, cfg))

    def restore(self):
        for name, s in self.original.items():
            self._load(name, s.config)
        return []

    def measure(self, cand):
        if type(self).during is not None:
            type(self).during()
            type(self).during = None
        cfg = cand.apply(self.base[cand.format])
        self._load(self.names[cand.format], cfg)
        w = LevelResult(concurrency=1, requests=100, samples=100, throughput=float(cand.max_batch_size), p99_ms=5.0)
        return Result(cand, [w])


@pytest.fixture
def offline(monkeypatch, tmp_path):
    def use(spec_path, during=None):
        tuner = type("Tuner", (OfflineTuner,), {"spec_path": spec_path, "during": staticmethod(during) if during else None})
        monkeypatch.setattr(runner, "Tuner", tuner)
        (tmp_path / "repo" / "linear").mkdir(parents=True, exist_ok=True)
        return tuner
    return use


def request(path, **over):
    return TuneRequest(**{"model": "linear", "http_url": "offline:1", "grpc_url": "offline:2", "spec_path": path,
                          "max_batch_sizes": [8, 16], "queue_delays_us": [0], "instance_counts": [1],
                          "concurrencies": [1], "write": True, **over})


def closing_lines(outcome) -> str:
    out, err = Console(file=StringIO(), width=200), Console(file=StringIO(), width=200)
    report.show_verdict(outcome, out, err)
    return out.file.getvalue() + err.file.getvalue()


def test_write_applies_the_winner_and_the_report_names_the_dropped_warmups(tmp_path, offline):
    path = spec_with(tmp_path, [1, 32])
    offline(path)
    outcome = TuneSession(request(path)).run()

    assert outcome.winner.candidate.max_batch_size == 16 and outcome.write_error == ""
    assert outcome.written == [str(path), str(tmp_path / "repo" / "linear" / "config.pbtxt")]
    assert yaml.safe_load(path.read_text())["models"][0]["warmup"] == {"batch_sizes": [1], "count": 2}
    on_disk = config.parse((tmp_path / "repo" / "linear" / "config.pbtxt").read_text())
    assert [w.batch_size for w in on_disk.model_warmup] == [1]
    text = closing_lines(outcome)
    assert "warm-up batch size 32 dropped" in text and "max_batch_size 16" in text, text
    assert outcome.exit_code == 0


def test_a_failing_writeback_keeps_the_sweeps_report_and_says_what_to_set_by_hand(tmp_path, offline, capsys):
    from tritonctl.cli import main

    path = spec_with(tmp_path, [1, 8])
    broken = path.read_text().replace("max_batch_size: 32", "max_batch_size: 32\n    formats: [onxx]")

    offline(path, during=lambda: path.write_text(broken))  # a typo saved while the sweep ran
    plot, js = tmp_path / "tune.png", tmp_path / "tune.json"
    rc = main(["tune", "linear", "--spec", str(path), "--url", "offline:1", "--grpc-url", "offline:2",
               "--max-batch-sizes", "8,16", "--queue-delays", "0", "--instances", "1", "--concurrency", "1",
               "--write", "--plot", str(plot), "--json", str(js)])
    out, err = capsys.readouterr()

    assert rc == WRITE_FAILED_EXIT
    assert path.read_text() == broken  # nothing written over the user's file
    saved = json.loads(js.read_text())
    assert [r["candidate"]["max_batch_size"] for r in saved] == [8, 16] and saved[1]["winner"] is True
    assert plot.stat().st_size > 0
    assert "WINNER" in out and "winner: onnx mbs=16" in out
    said = " ".join((out + err).split())
    assert f"{path}: model 'linear': formats.0" in said and "onxx" in said  # what is wrong, in the user's file
    assert ".tune-" not in said  # not in the scratch copy validated
    assert "by hand" in said and "max_batch_size: 16" in said and "preferred_batch_size: [8, 16]" in said, said
    assert not (tmp_path / "repo" / "linear" / "config.pbtxt").exists()
