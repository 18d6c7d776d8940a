"""Pure parts of loadtest/ (the locustfile, triton_users, triton_inputs, triton_run) and the load shapes.

Importing locust monkey-patches the whole process with gevent, so these checks run in a
subprocess (one per test file) and report back through its exit status and output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    r'''
    import sys, types
    sys.path[:0] = ["loadtest", "loadtest/shapes"]
    sys.argv = ["locust"]
    import locustfile as lf  # the thin file: concrete users only
    import triton_inputs as ti
    import triton_run as tr
    import triton_users as tu
    from step import step_users
    from spike import spike_users

    # endpoints: the same file for localhost, a Service and an Ingress
    assert tu.http_endpoint(None) == ("localhost:8000", False)
    assert tu.http_endpoint("https://triton.example.com/prefix/") == ("triton.example.com:443/prefix", True)
    assert tu.grpc_endpoint("", "http://triton:8000") == ("triton:8001", False)
    assert tu.grpc_endpoint("grpcs://triton.example.com", None) == ("triton.example.com:443", True)
    assert tu.parse_models("linear, digits:2") == [("linear", ""), ("digits", "2")]
    try:
        tu.parse_models(" , ")
    except ValueError as e:
        assert "--models" in str(e)
    else:
        raise AssertionError("empty --models accepted")

    # inputs: integers within the values: range the model's config carries (tritonctl build writes it)
    import numpy as np
    cfg = {"max_batch_size": 8, "parameters": {"tritonctl.values": {"string_value": '{"ids":[3,5]}'}}}
    import triton_wire as tw
    assert tw.config_values(cfg) == {"ids": (3, 5)}
    ids = ti.random_tensor(ti.TensorSpec("ids", "INT64", [4, 64], (3, 5)), np.random.default_rng(0))
    assert ids.dtype == np.int64 and ids.shape == (4, 64) and set(np.unique(ids).tolist()) == {3, 4}

    # thresholds on a fake stats object
    class Entry:
        def __init__(self, name, n, fails=0, p99=10.0, method="grpc"):
            self.name, self.num_requests, self.num_failures, self.method = name, n, fails, method
            self.fail_ratio = fails / n if n else 0.0
            self._p99 = p99
        def get_response_time_percentile(self, q):
            return self._p99

    def stats(total, entries):
        return types.SimpleNamespace(total=total, entries={(e.name, e.method): e for e in entries})

    opts = types.SimpleNamespace(max_fail_ratio=0.01, max_p99_ms=100.0, min_requests=1)
    ok = stats(Entry("Aggregated", 1000, 5, 50.0), [Entry("linear/1", 1000)])
    assert tr.check_thresholds(ok, opts) == [], tr.check_thresholds(ok, opts)
    bad = stats(Entry("Aggregated", 100, 5, 150.0), [Entry("linear/1", 100), Entry("digits/1", 0, method="http")])
    broken = tr.check_thresholds(bad, opts)
    assert any("failure ratio 0.0500 > --max-fail-ratio 0.01" in b for b in broken), broken
    assert any("p99 response time 150 ms > --max-p99-ms 100" in b for b in broken), broken
    assert any("http digits/1: 0 requests < --min-requests 1" in b for b in broken), broken
    none = types.SimpleNamespace(max_fail_ratio=None, max_p99_ms=None, min_requests=None)
    assert tr.check_thresholds(bad, none) == []

    # users: concrete classes only name the model
    assert lf.DigitsPipelineGrpcUser.model == "digits_pipeline" and lf.ModelHttpUser.model is None
    assert tu.TritonGrpcUser.abstract and tu.TritonHttpUser.abstract and not getattr(lf.ModelGrpcUser, "abstract", False)

    # step: 4 steps of 8 users over 40 s; spike: a quarter, all of them in the middle fifth
    assert [step_users(t, 8, 4, 40) for t in (0, 9.9, 10, 25, 39.9)] == [2, 2, 4, 6, 8]
    assert step_users(40, 8, 4, 40) is None
    assert [spike_users(t, 16, 100) for t in (0, 39, 40, 59, 60, 99)] == [4, 4, 16, 16, 4, 4]
    assert spike_users(100, 16, 100) is None
    print("ok")
    '''
)


def test_locustfile_helpers_thresholds_and_shapes():
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stdout + res.stderr
