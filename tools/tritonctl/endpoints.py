"""Where Triton listens: the one place for endpoint defaults, URLs and ports.

* Triton's default ports (8000 HTTP, 8001 gRPC, 8002 metrics; the chart and the official image
  use the same ones) and the host a client uses when nobody says;
* URL building; parsing is ``tritonctl.wire.urls.parse_url`` (one parser, TLS kept), with
  ``client_target`` and ``parse_target`` (bench's ``--protocol both``) naming errors as ClientError;
* free and busy TCP ports on this machine.

Stdlib only, so every command can import it before anything heavy. Triton's default ports and
URLs live in ``tritonctl.wire.urls`` (the load test reads them from its generated copy); the state
directory and the local server's pid file are ``tritonctl.statedir``.
"""

from __future__ import annotations

import socket
import threading

from tritonctl.errors import ClientError
from tritonctl.wire.urls import (  # noqa: F401 - the defaults every command names through this module
    DEFAULT_GRPC_PORT,
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_METRICS_PORT,
    DEFAULT_PORTS,
    DEFAULT_URLS,
    PROTOCOLS,
    Target,
    UrlError,
    parse_url,
)

#: what the local server listens on when nobody says: this machine only (Triton itself listens on
#: every interface, model-control API included); `tritonctl serve --address 0.0.0.0` opens it up
DEFAULT_ADDRESS = "127.0.0.1"
#: every interface: listen on all of them, or check that a port is free on all of them
ALL_INTERFACES = "0.0.0.0"
_WILDCARDS = (ALL_INTERFACES, "::", "")


# ---------------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------------
def connect_host(address: str) -> str:
    """The host a client dials for a server listening on ``address`` (a wildcard -> localhost)."""
    return DEFAULT_HOST if address in _WILDCARDS else address


def host_port(host: str, port: int) -> str:
    return f"{host}:{port}"


def metrics_url(host: str, port: int = DEFAULT_METRICS_PORT) -> str:
    return f"http://{host}:{port}/metrics"


def strip_scheme(url: str) -> str:
    """'http://h:p/' -> 'h:p' (tritonclient takes host:port)."""
    return url.split("://", 1)[-1].rstrip("/")


def client_target(url: str | None, protocol: str | None = None) -> Target:
    """``wire.urls.parse_url`` for a command's ``--url``/``--protocol``: ClientError when it names no endpoint."""
    try:
        return parse_url(url, protocol)
    except UrlError as exc:
        raise ClientError(str(exc)) from None


def parse_target(text: str, default_protocol: str = "grpc") -> list[Target]:
    """'grpc://h:8001' | 'http://h:8000' | 'https://h' | 'h:port' | 'h' -> targets.

    A URL without a scheme uses ``default_protocol`` (grpc, http or both); without a port it
    gets Triton's (8001 gRPC, 8000 HTTP; 443 with TLS).
    """
    text = text.strip()
    if default_protocol not in ("grpc", "http", "both"):
        raise ClientError(f"--protocol {default_protocol} is not one of grpc, http, both")
    if "://" in text or default_protocol != "both":
        try:
            return [parse_url(text, None if "://" in text else default_protocol)]
        except UrlError as exc:
            raise ClientError(str(exc)) from None
    if ":" in text:
        raise ClientError(
            f"--url {text} names one port but --protocol both needs two; give grpc://{text} and "
            f"http://HOST:PORT as two --url options, or a host without a port"
        )
    return [parse_url(text, p) for p in PROTOCOLS]


# ---------------------------------------------------------------------------------------------
# ports on this machine
# ---------------------------------------------------------------------------------------------
def port_in_use(port: int, address: str = ALL_INTERFACES) -> bool:
    """Can nothing bind ``port`` on ``address``? The default asks about every interface."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


# A port is free when asked, not when the server binds it: the OS may give the same ephemeral
# port to the next bind(0) once this socket is closed, so one server's three ports could collide.
# The registry makes sure this process never hands one out twice; a port taken meanwhile by
# another process is the caller's to retry on PORT_TAKEN (tests/integration/serverkit.start_server
# and tests/chart/podkit.start_chart_triton do).
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()

# What a server says when a port was taken after it was chosen, the sign to retry with new ports:
# tritonserver's HTTP and metrics ("Socket '0.0.0.0:N' already in use"), its gRPC ("Address already
# in use") and `tritonctl serve`'s own check ("port N is already in use on ...").
PORT_TAKEN = "already in use"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nothing listens on now, never handed out before in this process."""
    ports: list[int] = []
    with _handed_out_lock:
        while len(ports) < count:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                ports.append(port)
    return ports


def free_port() -> int:
    """A TCP port nothing listens on right now (for tests, the demo, bench's own server)."""
    return free_ports(1)[0]
