"""Is Triton up, and which models does it serve: server liveness/readiness and model states.

Triton reports a model version's state as one of ``ModelState``; every caller reads the typed
``ModelStatus`` (never a state string) and waits with ``wait_for_model_ready``, which raises a
typed error: ``ModelLoadFailed`` when Triton gave up on the model (with its reason),
``ModelReadyTimeout`` (a ``tritonctl.process.NotReady``, the one timeout error) when the time
ran out first. Connection errors count as "not ready yet" (as pytriton's ``wait_for_server_ready``). Requests go through ``tritonctl.client``, so the
same code reads a local server and a cluster, over HTTP or gRPC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from tritonctl import client as tc
from tritonctl.errors import ServeError
from tritonctl.process import NotReady


class ModelState(str, Enum):
    """A model version's state in Triton's repository index (``UNLOADED``: no state reported)."""

    UNLOADED = "UNLOADED"  # Triton lists the model but has never loaded it (explicit mode)
    UNKNOWN = "UNKNOWN"
    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"
    LOADING = "LOADING"
    UNLOADING = "UNLOADING"

    @classmethod
    def parse(cls, text: str | None) -> "ModelState":
        if not text:
            return cls.UNLOADED
        try:
            return cls(text.upper())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class ModelStatus:
    """One entry of the repository index."""

    name: str
    version: str = ""
    state: ModelState = ModelState.UNLOADED
    reason: str = ""

    @classmethod
    def from_index(cls, entry: dict) -> "ModelStatus":
        return cls(str(entry.get("name", "")), str(entry.get("version") or ""), ModelState.parse(entry.get("state")),
                   str(entry.get("reason") or ""))

    @property
    def ready(self) -> bool:
        return self.state is ModelState.READY

    @property
    def failed(self) -> bool:
        """Triton tried and gave up (an unload is not a failure)."""
        return self.state is ModelState.UNAVAILABLE and self.reason not in ("", "unloaded")

    @property
    def short_reason(self) -> str:
        """The reason's first part, without Triton's Python traceback (``At:``)."""
        return self.reason.split("\n\nAt:")[0].strip()


class ModelNotReady(ServeError):
    """A model is not ready; ``status`` is what Triton last said about it."""

    def __init__(self, message: str, status: ModelStatus | None = None):
        super().__init__(message)
        self.status = status


class ModelLoadFailed(ModelNotReady):
    """Triton tried to load the model and gave up; the message carries Triton's reason."""


class ModelReadyTimeout(ModelNotReady, NotReady):
    """The model did not become ready within the timeout."""


# ---------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------
def _probe(url: str, timeout: float):
    return tc.make_client(url if "://" in url else f"http://{url}", connection_timeout=timeout, network_timeout=timeout)


def is_live(url: str, timeout: float = 1.0) -> bool:
    """``GET /v2/health/live`` is 200 (any failure to connect: False)."""
    try:
        with tc.closing(_probe(url, timeout)) as c:
            return bool(c.is_server_live())
    except Exception:  # noqa: BLE001 - refused, reset, timeout: not live yet
        return False


def is_ready(url: str, timeout: float = 1.0) -> bool:
    """``GET /v2/health/ready`` is 200: every model Triton should serve is ready."""
    try:
        with tc.closing(_probe(url, timeout)) as c:
            return bool(c.is_server_ready())
    except Exception:  # noqa: BLE001
        return False


def model_statuses(client) -> list[ModelStatus]:
    """The repository index of a tritonclient client (either protocol) as typed statuses."""
    return [ModelStatus.from_index(m) for m in tc.repository_index(client)]


def repository_index(url: str, timeout: float = 10.0) -> list[ModelStatus]:
    with tc.closing(_probe(url, timeout)) as c:
        return model_statuses(c)


@dataclass(frozen=True)
class Settled:
    """A server's repository index once no model is loading (true even when the index is empty)."""

    index: list[ModelStatus]


def settled_index(client) -> Settled | None:
    """The index once the server is live and every model has loaded or failed (a failed model
    keeps ``/v2/health/ready`` at 503 under --strict-readiness: its failure settles it too); None
    before, and while the server does not answer. One client, reused across polls."""
    try:
        if not client.is_server_live():
            return None
        index = model_statuses(client)
        if any(m.state is ModelState.LOADING for m in index):
            return None
        if failed_models(index) or client.is_server_ready():
            return Settled(index)
    except Exception:  # noqa: BLE001 - refused, reset, an API not up yet (tritonclient's own types)
        return None
    return None


def failed_models(index: list[ModelStatus]) -> list[ModelStatus]:
    return [m for m in index if m.failed]


def ready_names(index: list[ModelStatus]) -> list[str]:
    return sorted({m.name for m in index if m.ready})


# ---------------------------------------------------------------------------------------------
# one model
# ---------------------------------------------------------------------------------------------
def model_status(client, model: str, version: str = "") -> ModelStatus:
    """What Triton says about ``model`` (``version``, or the highest listed when empty)."""
    try:
        if client.is_model_ready(model, str(version or "")):
            return ModelStatus(model, str(version or ""), ModelState.READY)
    except Exception:  # noqa: BLE001 - gRPC answers an unknown model with an error: the index says why
        pass
    entries = [m for m in model_statuses(client) if m.name == model and (not version or m.version == str(version))]
    if not entries:
        return ModelStatus(model, str(version or ""), ModelState.UNLOADED)
    return max(entries, key=lambda m: int(m.version) if m.version.isdigit() else -1)


def wait_for_model_ready(client, model: str, version: str = "", timeout_s: float = 60.0,
                         poll_s: float = 0.25) -> ModelStatus:
    """Wait until ``model`` (``version``) is READY; its status.

    Raises ``ModelLoadFailed`` as soon as Triton reports the load failed, ``ModelReadyTimeout``
    (with the last state seen) when ``timeout_s`` passes; ``timeout_s=0`` checks once.
    """
    what = f"model '{model}'" + (f" version {version}" if version else "")
    deadline = time.monotonic() + timeout_s
    while True:
        status = model_status(client, model, version)
        if status.ready:
            return status
        if status.failed:
            raise ModelLoadFailed(f"{what} failed to load: {status.short_reason}", status)
        if time.monotonic() >= deadline:
            within = f" within {timeout_s:g}s" if timeout_s else ""
            raise ModelReadyTimeout(f"{what} is not ready{within} (state {status.state.value})", status)
        time.sleep(poll_s)
