"""tritonctl.process: the one readiness loop (wait_until, wait_http) and ManagedProcess (start in a
process group, wait with a typed NotReady carrying the log's tail, stop the whole group)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

import pytest

from tritonctl.errors import ServeError
from tritonctl.process import ManagedProcess, NotReady, group_alive, http_status, wait_http, wait_until


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
    with pytest.raises(NotReady, match="torchserve exited with status 3 before it was ready") as caught:
        wait_until(lambda: False, timeout=30, proc=proc, what="torchserve")
    assert caught.value.process_status == 3


def test_wait_until_gives_up_when_time_runs_out():
    with pytest.raises(NotReady, match=r"gunicorn did not become ready within 1s \(raise --timeout\)") as caught:
        wait_until(lambda: False, timeout=1, what="gunicorn", hint="raise --timeout")
    assert caught.value.process_status is None
    assert isinstance(caught.value, ServeError), "the CLI reports it as a serving error: one line, exit 1"


def test_wait_until_returns_the_ready_value_and_none_when_cancelled():
    assert wait_until(lambda: {"index": []}, timeout=5) == {"index": []}
    assert wait_until(lambda: False, timeout=30, cancelled=lambda: True) is None


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


def test_a_managed_process_that_dies_while_starting_says_so_with_its_log_tail(tmp_path):
    log = tmp_path / "server.log"
    script = "import sys; print('loading model x'); print('E: port 8000 taken'); sys.exit(4)"
    with ManagedProcess([sys.executable, "-c", script], log, name="fake-server") as process:
        with pytest.raises(NotReady) as caught:
            process.wait_ready(lambda: False, timeout=30)
    message = str(caught.value)
    assert message.startswith("fake-server exited with status 4 before it was ready")
    assert f"its log ({log}) ends with:\nloading model x\nE: port 8000 taken" in message
    assert caught.value.process_status == 4


def test_stopping_a_managed_process_stops_what_it_started_too(tmp_path):
    # the leader starts a grandchild that ignores nothing and outlives a SIGTERM to the leader alone
    script = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
              " print('up', flush=True); time.sleep(120)")
    process = ManagedProcess([sys.executable, "-c", script], tmp_path / "out.log", name="leader").start()
    try:
        process.wait_ready(lambda: "up" in (tmp_path / "out.log").read_text(), timeout=30, interval=0.05)
        assert group_alive(process.pid)
        code = process.stop(timeout=10)
        assert code == -15, "SIGTERM ended the leader (no SIGKILL needed)"
        assert not group_alive(process.pid), "the grandchild in its process group is gone as well"
        assert process.stop() == -15, "a second stop is harmless"
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, 9)


def test_a_managed_process_in_our_group_is_stopped_alone(tmp_path):
    process = ManagedProcess([sys.executable, "-c", "import time; time.sleep(120)"], tmp_path / "out.log",
                             name="child", group=False).start()
    try:
        assert os.getpgid(process.pid) == os.getpgid(0), "group=False: Ctrl-C reaches it with us"
        assert process.stop(timeout=10) == -15
        assert not process.running()
    finally:
        process.stop(timeout=10)
