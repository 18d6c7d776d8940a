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
