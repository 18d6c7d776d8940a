"""Where Triton listens and where tritonctl keeps its local state: the one place for both.

* Triton's default ports (8000 HTTP, 8001 gRPC, 8002 metrics; the chart and the official image
  use the same ones) and the host a client uses when nobody says;
* URL building and parsing: ``grpc://h:p`` / ``http://h:p`` / ``h:p`` for one protocol
  (``split_url``), and the benchmark targets with TLS and an HTTP path prefix (``parse_target``);
* the state directory (``.tritonctl/``) with the names of the files ``tritonctl serve`` writes;
* free and busy TCP ports on this machine.

Stdlib only, so every command can import it before anything heavy. The load test
(``loadtest/triton_users.py``, ``triton_stats.py``) keeps its own copy of the defaults: it must run
in a plain Locust image without tritonctl.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tritonctl.errors import ClientError

PROTOCOLS = ("grpc", "http")
DEFAULT_HOST = "localhost"
DEFAULT_HTTP_PORT = 8000
DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002
DEFAULT_PORTS = {"http": DEFAULT_HTTP_PORT, "grpc": DEFAULT_GRPC_PORT, "metrics": DEFAULT_METRICS_PORT}
DEFAULT_URLS = {p: f"{DEFAULT_HOST}:{DEFAULT_PORTS[p]}" for p in PROTOCOLS}
#: what the local server listens on when nobody says: this machine only (Triton itself listens on
#: every interface, model-control API included); `tritonctl serve --address 0.0.0.0` opens it up
DEFAULT_ADDRESS = "127.0.0.1"
#: every interface: listen on all of them, or check that a port is free on all of them
ALL_INTERFACES = "0.0.0.0"
_WILDCARDS = (ALL_INTERFACES, "::", "")

DEFAULT_STATE_DIR = ".tritonctl"
PIDFILE_NAME = "server.pid"
SERVER_LOG_NAME = "server.log"


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


def split_url(url: str | None, protocol: str | None = None) -> tuple[str, str]:
    """('grpc://h:p' | 'http://h:p' | 'h:p' | None, protocol) -> (protocol, 'h:p').

    No scheme and no protocol means gRPC; no URL means the protocol's default URL.
    """
    if url and "://" in url:
        scheme, rest = url.split("://", 1)
        scheme = scheme.lower()
        if scheme == "https":
            scheme = "http"
        if scheme not in PROTOCOLS:
            raise ClientError(f"URL '{url}': scheme must be grpc:// or http://")
        if protocol and protocol != scheme:
            raise ClientError(f"URL '{url}' says {scheme} but --protocol is {protocol}")
        return scheme, rest.rstrip("/")
    protocol = protocol or "grpc"
    if protocol not in PROTOCOLS:
        raise ClientError(f"protocol '{protocol}' is not one of {', '.join(PROTOCOLS)}")
    return protocol, url or DEFAULT_URLS[protocol]


@dataclass(frozen=True)
class Target:
    """One endpoint to send load to: protocol, ``host:port[/prefix]`` and TLS."""

    protocol: str  # grpc | http
    url: str  # host:port
    ssl: bool = False

    def __str__(self) -> str:
        return f"{self.protocol}://{self.url}"


def parse_target(text: str, default_protocol: str = "grpc") -> list[Target]:
    """'grpc://h:8001' | 'http://h:8000' | 'https://h' | 'h:port' | 'h' -> targets.

    A URL without a scheme uses ``default_protocol`` (grpc, http or both); without a port it
    gets Triton's (8001 gRPC, 8000 HTTP; 443 with TLS).
    """
    text = text.strip()
    if "://" in text:
        u = urlsplit(text)
        scheme = u.scheme.lower()
        proto = {"grpc": "grpc", "grpcs": "grpc", "http": "http", "https": "http"}.get(scheme)
        if proto is None:
            raise ClientError(f"--url {text}: scheme '{scheme}' is not grpc://, grpcs://, http:// or https://")
        ssl = scheme in ("grpcs", "https")
        port = u.port or (443 if ssl else DEFAULT_PORTS[proto])
        return [Target(proto, f"{u.hostname}:{port}{u.path.rstrip('/') if proto == 'http' else ''}", ssl)]
    protos = ["grpc", "http"] if default_protocol == "both" else [default_protocol]
    if default_protocol not in ("grpc", "http", "both"):
        raise ClientError(f"--protocol {default_protocol} is not one of grpc, http, both")
    host, _, port = text.partition(":")
    if port and len(protos) > 1:
        raise ClientError(
            f"--url {text} names one port but --protocol both needs two; give grpc://{text} and "
            f"http://HOST:PORT as two --url options, or a host without a port"
        )
    return [Target(p, f"{host}:{port or DEFAULT_PORTS[p]}") for p in protos]


# ---------------------------------------------------------------------------------------------
# the state directory
# ---------------------------------------------------------------------------------------------
def pidfile_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / PIDFILE_NAME


def server_log_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / SERVER_LOG_NAME


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
