"""bench.with_server: a Triton it started stops again when the wait for it is interrupted."""

import signal

import pytest

from tritonctl.bench import with_server
from tritonctl.server import health, launcher


class _Server:
    stopped = False
    pid = 4242

    def __init__(self, opts):
        self.opts = opts

    def start(self):
        return self

    def wait_ready(self, timeout):
        raise KeyboardInterrupt

    def stop(self, timeout=None):
        _Server.stopped = True


def test_ctrl_c_while_triton_starts_stops_it(monkeypatch, tmp_path):
    monkeypatch.setattr(health, "is_ready", lambda url: False)
    monkeypatch.setattr(launcher, "LocalServer", _Server)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with_server.main(["--http", "localhost:18000", "--grpc", "localhost:18001",
                          "--state-dir", str(tmp_path), "--", "true"])
    assert _Server.stopped
    assert signal.getsignal(signal.SIGTERM) is before


def test_host_port_from_the_parsed_target():
    from tritonctl.endpoints import client_target

    assert with_server._host_port(client_target("localhost:8000/prefix", "http")) == ("localhost", "8000")
    assert with_server._host_port(client_target("grpc://127.0.0.1:9001")) == ("127.0.0.1", "9001")
