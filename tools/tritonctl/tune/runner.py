"""Run a tune sweep against a live Triton in explicit model-control mode.

Each candidate is loaded with ``load_model(name, config=<JSON ModelConfig>)``: Triton serves the
override, the repository on disk stays as it is. The served state of every model the sweep
touches is recorded first and restored in ``finally`` - after a normal end, an error, a failed
candidate or Ctrl-C alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tritonctl.wire.shapes import DYNAMIC_DIM
from tritonctl.tune.candidates import Candidate, TuneError
from tritonctl.tune.measure import sweep_triton
from tritonctl.tune.objective import Result

log = logging.getLogger("tritonctl.tune")

EXPLICIT_HINT = (
    "tune loads candidates through the repository API, which needs a server in explicit mode: "
    "`tritonctl serve --model-control-mode explicit --model MODEL`"
)


def sample_inputs(cfg, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for a config (``ModelConfig``): ``batch`` samples each, every -1 dim ``DYNAMIC_DIM.opt`` long."""
    from google.protobuf import json_format

    from tritonctl import client as tc
    from tritonctl.errors import ClientError

    config = json_format.MessageToDict(cfg, preserving_proto_field_name=True)
    for t in config.get("input", []):
        data_type = t.get("data_type", "TYPE_INVALID")
        try:
            numeric = tc.numpy_dtype(data_type) != np.object_
        except ClientError:
            numeric = False
        if not numeric:
            raise TuneError(f"input '{t['name']}' is {data_type}; tune generates numeric inputs only")
    return tc.random_inputs(config, batch, rng=np.random.default_rng(seed), dim_range=(DYNAMIC_DIM.opt, DYNAMIC_DIM.opt))


@dataclass
class Served:
    name: str
    loaded: bool
    config: object | None  # ModelConfig as served (None when not loaded)


@dataclass
class Tuner:
    http_url: str  # repository API
    names: dict[str, str]  # format -> served model name
    concurrencies: list[int] = field(default_factory=lambda: [1, 4, 16])
    duration: float = 5.0
    warmup: float = 1.0
    protocol: str = "grpc"
    grpc_url: str | None = None
    load_timeout: float = 300.0

    def __post_init__(self):
        from tritonctl import client as tc

        self.client = tc.make_client(f"http://{self.http_url}", connection_timeout=self.load_timeout,
                                     network_timeout=self.load_timeout)
        self.original: dict[str, Served] = {}
        self.base: dict[str, object] = {}

    # -- state ------------------------------------------------------------------------------
    def _served(self, name: str) -> Served:
        from tritonctl import client as tc
        from tritonctl.server.health import model_status

        if not model_status(self.client, name).ready:
            return Served(name, False, None)
        return Served(name, True, tc.get_config_message(self.client, name))

    def _load(self, name: str, cfg=None) -> None:
        """Load ``name`` (with ``cfg``, a ModelConfig override); ClientError when Triton refuses."""
        from tritonctl import client as tc
        from tritonctl.errors import ClientError

        try:
            tc.load_model(self.client, name, cfg)
        except ClientError as exc:
            msg = str(exc.__cause__ or exc)
            if "explicit model load" in msg or "not allowed" in msg:
                raise TuneError(f"cannot load '{name}': {msg.strip()}; {EXPLICIT_HINT}") from None
            raise

    def prepare(self) -> None:
        """Record the served state of every model the sweep may touch, and each one's base config."""
        from tritonctl import client as tc

        try:
            live = self.client.is_server_live()
        except Exception as exc:
            raise TuneError(f"no Triton answers at {self.http_url} ({exc}); start one with `tritonctl serve` or pass --url") from None
        if not live:
            raise TuneError(f"Triton at {self.http_url} is not live")
        for fmt, name in self.names.items():
            s = self._served(name)
            self.original[name] = s
            if s.loaded:
                self.base[fmt] = s.config
            else:
                self._load(name)  # from the repository, to read its config
                self.base[fmt] = tc.get_config_message(self.client, name)

    def restore(self) -> list[str]:
        """Put every touched model back as it was served before the sweep; returns problems."""
        from tritonctl import client as tc

        problems = []
        for name, s in self.original.items():
            try:
                if s.loaded:
                    self._load(name, s.config)
                else:
                    tc.unload_model(self.client, name)
            except Exception as exc:  # report, go on restoring the others
                problems.append(f"{name}: {exc}")
        return problems

    # -- one candidate ----------------------------------------------------------------------
    def measure(self, cand: Candidate) -> Result:
        from tritonctl.errors import ClientError

        name = self.names.get(cand.format)
        if name is None:
            return Result(cand, error=f"format {cand.format} is not published for this model")
        cfg = cand.apply(self.base[cand.format])
        try:
            self._load(name, cfg)
        except ClientError as exc:  # Triton refused this candidate's config: the sweep goes on
            return Result(cand, error=f"failed to load: {str(exc.__cause__ or exc).strip().splitlines()[0]}")
        inputs = sample_inputs(cfg)
        url = self.grpc_url if self.protocol == "grpc" else self.http_url
        outputs = [o.name for o in cfg.output]
        windows = sweep_triton(url, self.protocol, name, inputs, self.concurrencies, self.duration, self.warmup, outputs)
        result = Result(cand, windows)
        if windows and all(w.requests == 0 for w in windows):
            result.error = f"every request failed: {windows[0].first_error}"
        return result

    def sweep(self, candidates: list[Candidate], on_result: Callable[[Result], None] | None = None) -> list[Result]:
        results = []
        for cand in candidates:
            log.debug("candidate %s", cand.label)
            r = self.measure(cand)
            results.append(r)
            if on_result:
                on_result(r)
        return results


def run_sweep(tuner: Tuner, candidates: list[Candidate], on_result=None, after=None) -> list[Result]:
    """prepare -> sweep -> ``after(results)`` (e.g. write the winner) -> restore, restore on any exit.

    ``after`` returns the served names to reload from disk instead of restoring (the winner just
    written to the repository); everything else goes back to its recorded state.
    """
    reload: list[str] = []
    try:
        tuner.prepare()
        results = tuner.sweep(candidates, on_result)
        if after is not None:
            reload = list(after(results) or [])
        return results
    finally:
        shield = _ignore_interrupts()  # a second Ctrl-C must not cut the restore short
        keep = {n: s for n, s in tuner.original.items() if n not in reload}
        restore_all = dict(tuner.original)
        tuner.original = keep
        problems: list[str] = []
        try:
            problems += tuner.restore()
            for name in reload:
                try:
                    tuner._load(name)
                except Exception as exc:
                    problems.append(f"{name}: {exc}")
        finally:
            tuner.original = restore_all
            shield()
        for p in problems:
            log.error("could not restore %s", p)


def _ignore_interrupts():
    """Ignore SIGINT/SIGTERM (main thread only); returns the function that puts the handlers back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}

    def undo():
        for sig, handler in saved.items():
            signal.signal(sig, handler)

    return undo
