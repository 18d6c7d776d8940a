"""The Locust web UI (what `make loadtest-ui` starts) serves our users' stats after a short run."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest


pytestmark = pytest.mark.integration


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def test_the_ui_starts_and_its_stats_list_our_requests(lt_server, locust_ui):
    with locust_ui("--models", "linear", "ModelGrpcUser", "ModelHttpUser") as base:
        form = urllib.parse.urlencode(
            {"user_count": 2, "spawn_rate": 2, "host": f"http://{lt_server.http_url}"}
        ).encode()
        with urllib.request.urlopen(urllib.request.Request(base + "/swarm", data=form), timeout=10) as r:
            assert json.loads(r.read())["success"] is True
        names: dict = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(1)
            stats = json.loads(_get(base + "/stats/requests")[1])
            names = {(s["method"], s["name"]): s["num_requests"] for s in stats["stats"] if s["name"] != "Aggregated"}
            if names.get(("grpc", "linear/1"), 0) > 0 and names.get(("http", "linear/1"), 0) > 0:
                break
        assert names.get(("grpc", "linear/1"), 0) > 0, names
        assert names.get(("http", "linear/1"), 0) > 0, names
        assert stats["fail_ratio"] == 0, stats
        # the Triton tab's rows ride on the same poll (loadtest/triton_stats.py)
        deadline = time.monotonic() + 30
        while True:
            stats = json.loads(_get(base + "/stats/requests")[1])
            triton = {r["model"]: r for tab in stats.get("extended_stats", []) if tab["key"] == "triton" for r in tab["data"]}
            if triton.get("linear", {}).get("requests"):
                break
            assert time.monotonic() < deadline, f"no Triton rows for linear: {triton}"
            time.sleep(1)
        assert triton["linear"]["version"] == "1" and triton["linear"]["failures"] == 0, triton
        assert triton["linear"]["compute_ms"] > 0, triton
        csv_text = _get(base + "/triton/csv")[1].decode()
        assert csv_text.splitlines()[0].startswith("model,version,requests,locust_requests"), csv_text
        with urllib.request.urlopen(urllib.request.Request(base + "/stop", data=b"", method="POST"), timeout=10) as r:
            assert r.status == 200
