"""server/process.wait_until and wait_http: the one readiness loop for servers that are not Triton
(TorchServe, gunicorn, and `tritonctl import --verify`'s two servers)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest

from tritonctl.server.process import http_status, wait_http, wait_until


def test_wait_until_returns_once_ready_and_counts_errors_as_not_yet():
    answers = iter([OSError("refused"), KeyError("workers"), False, True])

    def ready():
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    wait_until(ready, timeout=30, what="torchserve")
    assert next(answers, "used up") == "used up", "it polled until the first true answer, not past it"


def test_wait_until_names_a_server_that_exited_before_it_was_ready():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match="torchserve exited with 3 before it was ready"):
        wait_until(lambda: False, timeout=30, proc=proc, what="torchserve")


def test_wait_until_gives_up_when_time_runs_out():
    with pytest.raises(RuntimeError, match="gunicorn was not ready within 1s"):
        wait_until(lambda: False, timeout=1, what="gunicorn")


class _Status(http.server.BaseHTTPRequestHandler):
    codes = [503, 503, 200]

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(self.codes.pop(0) if len(self.codes) > 1 else self.codes[0])
        self.end_headers()

    def log_message(self, *args):
        pass


def test_wait_http_waits_through_error_statuses_until_200():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ping"
    try:
        assert http_status(url) == 503
        wait_http(url, timeout=30, what="torchserve")
        assert http_status(url) == 200
    finally:
        server.shutdown()
        server.server_close()
