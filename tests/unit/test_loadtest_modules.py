"""Pure parts of loadtest/ (the locustfile, triton_users, triton_inputs, triton_run) and the load shapes.

Importing locust monkey-patches the whole process with gevent, so the claims run in one
subprocess: each is a function there, run on its own (its failure is kept, the others still run),
and each is one test here, reading that claim's result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    r'''
    import json, sys, traceback, types
    sys.path[:0] = ["loadtest", "loadtest/shapes"]
    sys.argv = ["locust"]
    import numpy as np
    import locustfile as lf  # the thin file: concrete users only
    import triton_inputs as ti
    import triton_run as tr
    import triton_users as tu
    import triton_wire as tw
    from step import step_users
    from spike import spike_users


    def http_endpoints_serve_localhost_a_service_and_an_ingress_with_tls():
        assert tu.http_endpoint(None) == ("localhost:8000", False)
        assert tu.http_endpoint("https://triton.example.com/prefix/") == ("triton.example.com:443/prefix", True)


    def grpc_endpoints_follow_the_http_host_or_their_own_url_with_tls():
        assert tu.grpc_endpoint("", "http://triton:8000") == ("triton:8001", False)
        assert tu.grpc_endpoint("grpcs://triton.example.com", None) == ("triton.example.com:443", True)


    def models_parse_with_optional_versions():
        assert tu.parse_models("linear, digits:2") == [("linear", ""), ("digits", "2")]


    def an_empty_models_option_is_refused_naming_it():
        try:
            tu.parse_models(" , ")
        except ValueError as e:
            assert "--models" in str(e), str(e)
        else:
            raise AssertionError("empty --models accepted")


    def integer_inputs_stay_within_the_values_range_the_config_carries():
        cfg = {"max_batch_size": 8, "parameters": {"tritonctl.values": {"string_value": '{"ids":[3,5]}'}}}
        assert tw.config_values(cfg) == {"ids": (3, 5)}
        ids = ti.random_tensor(ti.RequestInput("ids", "INT64", [4, 64], (3, 5)), np.random.default_rng(0))
        assert ids.dtype == np.int64 and ids.shape == (4, 64) and set(np.unique(ids).tolist()) == {3, 4}


    class Entry:
        def __init__(self, name, n, fails=0, p99=10.0, method="grpc"):
            self.name, self.num_requests, self.num_failures, self.method = name, n, fails, method
            self.fail_ratio = fails / n if n else 0.0
            self._p99 = p99

        def get_response_time_percentile(self, q):
            return self._p99


    def stats(total, entries):
        return types.SimpleNamespace(total=total, entries={(e.name, e.method): e for e in entries})


    OPTS = types.SimpleNamespace(max_fail_ratio=0.01, max_p99_ms=100.0, min_requests=1)
    BAD = stats(Entry("Aggregated", 100, 5, 150.0), [Entry("linear/1", 100), Entry("digits/1", 0, method="http")])


    def a_run_within_every_threshold_breaks_none():
        ok = stats(Entry("Aggregated", 1000, 5, 50.0), [Entry("linear/1", 1000)])
        assert tr.check_thresholds(ok, OPTS) == [], tr.check_thresholds(ok, OPTS)


    def a_failure_ratio_above_the_threshold_is_reported():
        broken = tr.check_thresholds(BAD, OPTS)
        assert any("failure ratio 0.0500 > --max-fail-ratio 0.01" in b for b in broken), broken


    def a_p99_above_the_threshold_is_reported():
        broken = tr.check_thresholds(BAD, OPTS)
        assert any("p99 response time 150 ms > --max-p99-ms 100" in b for b in broken), broken


    def a_user_class_with_too_few_requests_is_reported_by_protocol_and_name():
        broken = tr.check_thresholds(BAD, OPTS)
        assert any("http digits/1: 0 requests < --min-requests 1" in b for b in broken), broken


    def no_threshold_set_breaks_nothing():
        none = types.SimpleNamespace(max_fail_ratio=None, max_p99_ms=None, min_requests=None)
        assert tr.check_thresholds(BAD, none) == []


    def concrete_users_only_name_the_model_over_abstract_bases():
        assert lf.DigitsPipelineGrpcUser.model == "digits_pipeline" and lf.ModelHttpUser.model is None
        assert tu.TritonGrpcUser.abstract and tu.TritonHttpUser.abstract
        assert not getattr(lf.ModelGrpcUser, "abstract", False)


    def the_step_shape_adds_a_quarter_of_the_users_every_quarter_then_stops():
        assert [step_users(t, 8, 4, 40) for t in (0, 9.9, 10, 25, 39.9)] == [2, 2, 4, 6, 8]
        assert step_users(40, 8, 4, 40) is None


    def the_spike_shape_runs_a_quarter_then_all_users_in_the_middle_fifth_then_stops():
        assert [spike_users(t, 16, 100) for t in (0, 39, 40, 59, 60, 99)] == [4, 4, 16, 16, 4, 4]
        assert spike_users(100, 16, 100) is None


    results = {}
    for name, claim in list(globals().items()):
        if callable(claim) and getattr(claim, "__module__", None) == "__main__" and name[0].islower() \
                and name not in ("stats",):
            try:
                claim()
                results[name] = None
            except Exception:
                results[name] = traceback.format_exc(limit=-2)
    print(json.dumps(results))
    '''
)

CLAIMS = [
    "http_endpoints_serve_localhost_a_service_and_an_ingress_with_tls",
    "grpc_endpoints_follow_the_http_host_or_their_own_url_with_tls",
    "models_parse_with_optional_versions",
    "an_empty_models_option_is_refused_naming_it",
    "integer_inputs_stay_within_the_values_range_the_config_carries",
    "a_run_within_every_threshold_breaks_none",
    "a_failure_ratio_above_the_threshold_is_reported",
    "a_p99_above_the_threshold_is_reported",
    "a_user_class_with_too_few_requests_is_reported_by_protocol_and_name",
    "no_threshold_set_breaks_nothing",
    "concrete_users_only_name_the_model_over_abstract_bases",
    "the_step_shape_adds_a_quarter_of_the_users_every_quarter_then_stops",
    "the_spike_shape_runs_a_quarter_then_all_users_in_the_middle_fifth_then_stops",
]


@pytest.fixture(scope="module")
def results() -> dict:
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_every_claim_of_the_script_is_a_test_here(results):
    assert sorted(results) == sorted(CLAIMS)


@pytest.mark.parametrize("claim", CLAIMS)
def test_locustfile_claim(results, claim):
    assert claim in results, f"the script did not run {claim}"
    assert results[claim] is None, results[claim]
