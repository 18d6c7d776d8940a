"""Free ports for servers this process starts (tests, the demo, bench's own server, the peers)."""

from __future__ import annotations

import socket

from tritonctl import endpoints


def test_free_ports_are_never_handed_out_twice_in_one_process():
    # The OS may give the same ephemeral port to two bind(0) calls once the first socket is closed;
    # three calls for one server's http/grpc/metrics ports must still be three ports.
    ports = [endpoints.free_port() for _ in range(500)] + endpoints.free_ports(500)
    assert len(set(ports)) == len(ports)


def test_a_free_port_can_be_bound_and_is_then_in_use():
    port = endpoints.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert endpoints.port_in_use(port, "127.0.0.1")


def test_serve_listens_on_loopback_only_unless_address_says_otherwise():
    """Model-control API included (explicit mode): a laptop's server is not on the network by default."""
    from pathlib import Path
    from types import SimpleNamespace

    from tritonctl import cli
    from tritonctl.server.launcher import ServerOptions, server_command

    args = cli.build_parser().parse_args(["serve", "repo", "--model-control-mode", "explicit"])
    assert args.address == "127.0.0.1"
    opts = ServerOptions(repository=Path("repo"), address=args.address, model_control_mode=args.model_control_mode)
    cmd = server_command(opts, SimpleNamespace(binary=Path("tritonserver")), Path("backends"))
    assert {f"--{e}-address=127.0.0.1" for e in ("http", "grpc", "metrics")} <= set(cmd)
    assert not [c for c in cmd if c.endswith("-address=0.0.0.0")]
    everywhere = cli.build_parser().parse_args(["serve", "repo", "--address", "0.0.0.0"])
    assert everywhere.address == "0.0.0.0"
    # the launcher's own default (bench --with-server) is loopback too
    assert ServerOptions(repository=Path("repo")).address == "127.0.0.1"


def test_serve_help_says_the_default_address_and_how_to_listen_everywhere():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tritonctl", "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "--address" in text and "127.0.0.1" in text and "0.0.0.0" in text
