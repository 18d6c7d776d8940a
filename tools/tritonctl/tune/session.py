"""One tune session: from a request (model, budget, search axes, endpoints) to an outcome.

``TuneSession(request)`` validates the request against models.yaml and lays out the grid
(errors name the option and the fix before anything is measured); ``run()`` measures every
candidate on the live server (``runner.run_sweep``: the served state is restored on every exit),
picks the winner under the p99 budget, hands the measured outcome to ``on_measured`` (the CLI saves
the table, plot and JSON there, so a failing write-back cannot lose the sweep) and, with ``write``,
applies it to models.yaml and the repository's config.pbtxt. A write-back that fails is recorded
(``write_error``: what failed and what to set by hand), not raised. The outcome says what was found
and written; ``tune.report`` turns it into the table, plot, JSON and closing lines, and the CLI
(``commands/tune.py``) only parses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tritonctl.errors import TritonctlError
from tritonctl.tune.candidates import Candidate, SearchSpace, TuneError
from tritonctl.tune.objective import Result, pick_winner

# Formats tune can load as candidates (a TensorRT plan is built per GPU, outside the sweep).
TUNABLE_FORMATS = ("onnx", "torchscript")
NO_WINNER_EXIT = 3
WRITE_FAILED_EXIT = 4  # a winner was found but could not be written back


@dataclass
class TuneRequest:
    model: str
    http_url: str  # host:port of Triton's HTTP endpoint (the repository API)
    grpc_url: str  # host:port of its gRPC endpoint (the load, with protocol grpc)
    spec_path: Path = Path("models.yaml")  # optional: without it the served names are guessed
    repository: Path | None = None  # default: `repository:` of the spec
    p99_budget_ms: float = 100.0
    protocol: str = "grpc"
    formats: list[str] | None = None  # default: the model's published (tunable) formats
    max_batch_sizes: list[int] | None = None  # default: half, equal and double the spec's
    preferred: list[tuple[int, ...]] | None = None  # default: half and full max batch
    queue_delays_us: list[int] = field(default_factory=lambda: [0, 500, 2000])
    instance_counts: list[int] = field(default_factory=lambda: [1, 2])
    thread_counts: list[int] | None = None  # default: as each config says
    max_candidates: int | None = None
    concurrencies: list[int] = field(default_factory=lambda: [1, 4, 16])
    duration_s: float = 5.0
    warmup_s: float = 1.0
    write: bool = False


@dataclass
class TuneOutcome:
    request: TuneRequest
    results: list[Result]
    winner: Result | None
    patch: str = ""  # the models.yaml diff the winner implies (empty: nothing to change)
    written: list[str] = field(default_factory=list)  # files --write changed
    rebuild_needed: bool = False  # the winner switches `serve:`: the repository needs a build
    has_spec: bool = True
    notes: list[str] = field(default_factory=list)  # what the write-back changed beyond the winner's values
    write_error: str = ""  # why the winner was not (fully) written, and what to set by hand

    @property
    def exit_code(self) -> int:
        if self.winner is None:
            return NO_WINNER_EXIT
        return WRITE_FAILED_EXIT if self.write_error else 0


class TuneSession:
    def __init__(self, request: TuneRequest):
        from tritonctl import spec as spec_mod

        r = self.request = request
        self.spec = spec_mod.load(r.spec_path) if r.spec_path.exists() else None
        if r.write and self.spec is None:
            raise TuneError(f"--write needs models.yaml; {r.spec_path} does not exist (pass --spec)")
        names, self.model_spec = self._served_names()
        if r.p99_budget_ms <= 0:
            raise TuneError(f"--p99-budget must be positive, got {r.p99_budget_ms}")
        formats = r.formats or list(names)
        missing = [f for f in formats if f not in names]
        if missing:
            raise TuneError(f"--formats {missing}: model '{r.model}' publishes only {sorted(names)}")
        self.names = {f: names[f] for f in formats}  # format -> served model name
        base = self.model_spec.max_batch_size if self.model_spec else 8
        space = SearchSpace(
            formats=formats,
            max_batch_sizes=r.max_batch_sizes or sorted({max(1, base // 2), base, min(2 * base, 64)}),
            queue_delays_us=r.queue_delays_us,
            instance_counts=r.instance_counts,
            thread_counts=r.thread_counts,
            preferred=r.preferred,
            limit=r.max_candidates,
        )
        self.candidates: list[Candidate] = space.candidates()
        self.repository = r.repository or (self.spec.resolve(self.spec.repository) if self.spec else None)

    def _served_names(self):
        r = self.request
        if self.spec is None:
            return {"onnx": r.model, "torchscript": f"{r.model}_torchscript"}, None
        try:
            m = self.spec.model(r.model)
        except Exception:
            raise TuneError(
                f"{r.spec_path}: no model named '{r.model}'; known: {[m.name for m in self.spec.models]}"
            ) from None
        if m.kind != "pytorch" or not m.batching:
            raise TuneError(f"model '{r.model}' is a {m.kind} model with max_batch_size {m.max_batch_size}; "
                            "tune searches batching settings of exported (pytorch) models")
        return {f: m.served_name(f) for f in m.formats if f in TUNABLE_FORMATS}, m

    def run(self, on_result: Callable[[Result], None] | None = None,
            on_measured: Callable[[TuneOutcome], None] | None = None) -> TuneOutcome:
        """Measure every candidate; the served models are back as they were (or the winner, written) after.

        ``on_measured(outcome)`` runs once the results and the winner are known, before anything is written.
        """
        from tritonctl.tune.runner import Tuner, run_sweep

        r = self.request
        tuner = Tuner(http_url=r.http_url, names=self.names, concurrencies=r.concurrencies, duration=r.duration_s,
                      warmup=r.warmup_s, protocol=r.protocol, grpc_url=r.grpc_url)
        outcome = TuneOutcome(r, [], None, has_spec=self.spec is not None)

        def after(results: list[Result]) -> list[str]:
            # runs while the candidates are still loaded: returns the names to reload from disk
            outcome.results = results
            outcome.winner = pick_winner(results, r.p99_budget_ms)
            if on_measured is not None:
                on_measured(outcome)
            if outcome.winner is None or self.spec is None:
                return []
            try:
                return self._apply(outcome, tuner)
            except (TritonctlError, OSError) as exc:
                outcome.write_error = self._write_failed(outcome, exc)
                return []  # restore what was served: the repository was not (fully) updated

        outcome.results = run_sweep(tuner, self.candidates, on_result=on_result, after=after)
        return outcome

    def _apply(self, outcome: TuneOutcome, tuner) -> list[str]:
        from tritonctl import repository
        from tritonctl.tune import writeback

        r, winner = self.request, outcome.winner
        old, new, patched = writeback.plan_models_yaml(r.spec_path, r.model, winner.candidate)
        outcome.patch = writeback.unified_diff(old, new, str(r.spec_path))
        outcome.notes = [n for n in [writeback.warmup_note(self.model_spec, winner.candidate)] if n]
        if not r.write:
            return []
        repository.write_atomic(r.spec_path, new)
        outcome.written = [str(r.spec_path)]
        if patched.model(r.model).serve != self.model_spec.serve:
            outcome.rebuild_needed = True
            return []
        written = writeback.write_repository(self.repository, writeback.repository_configs(patched, r.model))
        outcome.written += [str(p) for p in written]
        winner_name = self.names[winner.candidate.format]
        return [winner_name] + [n for n, s in tuner.original.items() if s.loaded and n != winner_name]

    def _write_failed(self, outcome: TuneOutcome, exc: Exception) -> str:
        """The write-back error, with what is left to do by hand (the TuneErrors of ``writeback`` say it)."""
        from tritonctl.tune import writeback

        r = self.request
        if isinstance(exc, TuneError):
            return str(exc)
        if outcome.written:
            return (f"{exc}; {r.spec_path} is updated but the repository's config.pbtxt is not: "
                    f"run `tritonctl build {r.spec_path}` to write it")
        values = writeback.desired_values(self._raw_entry(), outcome.winner.candidate)
        return f"{exc}; nothing written: {writeback.by_hand(r.model, values)}"

    def _raw_entry(self) -> dict:
        import yaml

        try:
            raw = yaml.safe_load(self.request.spec_path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            return {}
        models = raw.get("models") if isinstance(raw, dict) else None
        return next((m for m in models or [] if isinstance(m, dict) and m.get("name") == self.request.model), {})
