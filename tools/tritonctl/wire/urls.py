"""Triton's default ports and the one parser of endpoint URLs (the scheme's TLS kept).

``grpc://h:p``, ``grpcs://h``, ``http://h:p/prefix``, ``https://h`` or ``h:p``: one ``Target``
(protocol, ``host:port[/prefix]`` as tritonclient takes it, TLS). A URL without a port gets the
caller's default for the protocol (Triton's 8001/8000 for tritonctl; a browser's 80 for Locust's
``--host``), and 443 with TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

PROTOCOLS = ("grpc", "http")
DEFAULT_HOST = "localhost"
DEFAULT_HTTP_PORT = 8000
DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002
DEFAULT_PORTS = {"http": DEFAULT_HTTP_PORT, "grpc": DEFAULT_GRPC_PORT, "metrics": DEFAULT_METRICS_PORT}
DEFAULT_URLS = {p: f"{DEFAULT_HOST}:{DEFAULT_PORTS[p]}" for p in PROTOCOLS}
TLS_PORT = 443
#: scheme -> (protocol, TLS)
SCHEMES = {"grpc": ("grpc", False), "grpcs": ("grpc", True), "http": ("http", False), "https": ("http", True)}


class UrlError(ValueError):
    """A URL that names no Triton endpoint (an unknown scheme or protocol)."""


@dataclass(frozen=True)
class Target:
    """One endpoint: protocol, ``host:port[/prefix]`` (what tritonclient takes) and TLS."""

    protocol: str  # grpc | http
    url: str  # host:port[/prefix]
    ssl: bool = False

    def __str__(self) -> str:
        scheme = self.protocol + ("s" if self.ssl else "")
        return f"{scheme}://{self.url}"


def parse_url(text: str | None, protocol: str | None = None, ports: Mapping[str, int] | None = None) -> Target:
    """One endpoint URL -> ``Target``. Without a scheme, ``protocol`` (default gRPC) picks it;
    without a URL, the protocol's default URL. ``ports``: the port of a URL that names none
    (default: Triton's). A scheme that contradicts ``protocol`` is an error."""
    ports = {**DEFAULT_PORTS, **(ports or {})}
    text = (text or "").strip()
    if "://" in text:
        u = urlsplit(text)
        scheme = u.scheme.lower()
        if scheme not in SCHEMES:
            raise UrlError(f"URL '{text}': scheme '{scheme}' is not grpc://, grpcs://, http:// or https://")
        proto, ssl = SCHEMES[scheme]
        if protocol and protocol != proto:
            raise UrlError(f"URL '{text}' says {proto} but --protocol is {protocol}")
        port = u.port or (TLS_PORT if ssl else ports[proto])
        path = u.path.rstrip("/") if proto == "http" else ""
        return Target(proto, f"{u.hostname}:{port}{path}", ssl)
    proto = protocol or "grpc"
    if proto not in PROTOCOLS:
        raise UrlError(f"protocol '{proto}' is not one of {', '.join(PROTOCOLS)}")
    if not text:
        return Target(proto, DEFAULT_URLS[proto])
    host, _, rest = text.partition(":")
    port, slash, path = rest.partition("/")
    return Target(proto, f"{host}:{port or ports[proto]}{slash + path.rstrip('/') if proto == 'http' else ''}")
