"""The search space of `tritonctl tune` and each candidate's config override.

A candidate changes only what serving decides: which exported format serves (ONNX or
TorchScript, i.e. which published model directory), ``max_batch_size``, the dynamic batcher's
preferred batch sizes and queue delay, the CPU instance count and, when asked, the intra-op
threads of each instance. Everything else (tensors, labels, other parameters) is the served config
as it is; warm-ups above the candidate's max batch are dropped (``fit_warmup_sizes``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from tritonctl.backends.runtime import ONNXRUNTIME_INTRA_OP_THREADS, PYTORCH_INTRA_OP_THREADS
from tritonctl.errors import TritonctlError

FORMATS = ("onnx", "torchscript")
#: the config parameter each format's CPU backend reads its intra-op thread count from
THREAD_PARAMETER = {"onnx": ONNXRUNTIME_INTRA_OP_THREADS, "torchscript": PYTORCH_INTRA_OP_THREADS}


class TuneError(TritonctlError):
    """A tune request or sweep that cannot go on: names the option or model and the fix."""


@dataclass(frozen=True)
class Candidate:
    format: str
    max_batch_size: int
    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = 0
    instance_count: int = 1
    threads: int | None = None  # intra-op threads per instance; None: as the config says

    def __post_init__(self):
        if self.format not in FORMATS:
            raise TuneError(f"candidate format '{self.format}' is not one of {', '.join(FORMATS)}")
        if self.max_batch_size < 1:
            raise TuneError(f"candidate max_batch_size must be >= 1 (tune sweeps batching models), got {self.max_batch_size}")
        if self.instance_count < 1:
            raise TuneError(f"candidate instance count must be >= 1, got {self.instance_count}")
        if self.threads is not None and self.threads < 1:
            raise TuneError(f"candidate threads must be >= 1, got {self.threads}")
        if self.max_queue_delay_microseconds < 0:
            raise TuneError(f"max_queue_delay_microseconds must be >= 0, got {self.max_queue_delay_microseconds}")
        bad = [b for b in self.preferred_batch_size if not 1 <= b <= self.max_batch_size]
        if bad:
            raise TuneError(f"preferred batch sizes {bad} must lie in 1..max_batch_size ({self.max_batch_size})")

    @property
    def label(self) -> str:
        pref = ",".join(map(str, self.preferred_batch_size)) or "-"
        threads = f" thr={self.threads}" if self.threads is not None else ""
        return (f"{self.format} mbs={self.max_batch_size} pref={pref} "
                f"delay={self.max_queue_delay_microseconds}us inst={self.instance_count}{threads}")

    @property
    def thread_parameter(self) -> str:
        return THREAD_PARAMETER[self.format]

    def apply(self, base):
        """A copy of ``base`` (a ``ModelConfig``) with this candidate's serving settings."""
        from tritonclient.grpc import model_config_pb2 as mc

        cfg = mc.ModelConfig()
        cfg.CopyFrom(base)
        cfg.max_batch_size = self.max_batch_size
        cfg.dynamic_batching.preferred_batch_size[:] = list(self.preferred_batch_size)
        cfg.dynamic_batching.max_queue_delay_microseconds = self.max_queue_delay_microseconds
        del cfg.instance_group[:]
        cfg.instance_group.add(count=self.instance_count, kind=mc.ModelInstanceGroup.KIND_CPU)
        if self.threads is not None:
            cfg.parameters[self.thread_parameter].string_value = str(self.threads)
        kept, dropped = fit_warmup_sizes([w.batch_size for w in cfg.model_warmup], self.max_batch_size)
        if dropped:
            fitting = [w for w in cfg.model_warmup if w.batch_size in kept]
            fallback = None if fitting else min(cfg.model_warmup, key=lambda w: w.batch_size)
            copies = []
            for w in fitting or [fallback]:
                c = mc.ModelWarmup()
                c.CopyFrom(w)
                copies.append(c)
            if fallback is not None:  # none fits: the smallest warm-up, run at the max batch
                if fallback.name == f"random_bs{fallback.batch_size}":  # the name config.py gives it
                    copies[0].name = f"random_bs{self.max_batch_size}"
                copies[0].batch_size = self.max_batch_size
            del cfg.model_warmup[:]
            cfg.model_warmup.extend(copies)
        return cfg


def fit_warmup_sizes(batch_sizes, max_batch_size: int) -> tuple[list[int], list[int]]:
    """(kept, dropped): the warm-up batch sizes a model with ``max_batch_size`` keeps.

    Triton refuses to load a model with a warm-up batch above its max batch, and the spec refuses
    such a models.yaml, so sizes above it are dropped. When none fits, the model warms up at
    ``max_batch_size`` instead: a model that was warmed stays warmed. The one rule for the config
    a candidate is served with during the sweep (``Candidate.apply``) and for the warm-ups the
    winner writes to models.yaml (``writeback``), so what is written is what was measured.
    """
    kept = [b for b in batch_sizes if b <= max_batch_size]
    dropped = [b for b in batch_sizes if b > max_batch_size]
    if dropped and not kept:
        kept = [max_batch_size]
    return kept, dropped


def preferred_for(max_batch_size: int) -> tuple[int, ...]:
    """The default preferred sizes for a max batch: half and full (``[4, 8]`` for 8), or none for 1."""
    if max_batch_size <= 1:
        return ()
    half = max_batch_size // 2
    return (half, max_batch_size) if half >= 2 else (max_batch_size,)


@dataclass
class SearchSpace:
    """Axes of the grid; ``preferred`` None means 'derived from max_batch_size' (preferred_for)."""

    formats: list[str] = field(default_factory=lambda: ["onnx"])
    max_batch_sizes: list[int] = field(default_factory=lambda: [8])
    queue_delays_us: list[int] = field(default_factory=lambda: [0, 2000])
    instance_counts: list[int] = field(default_factory=lambda: [1])
    thread_counts: list[int] | None = None  # None: leave each config's thread setting alone
    preferred: list[tuple[int, ...]] | None = None
    limit: int | None = None

    def __post_init__(self):
        for name in ("formats", "max_batch_sizes", "queue_delays_us", "instance_counts"):
            if not getattr(self, name):
                raise TuneError(f"the search space needs at least one value for {name.replace('_', ' ')}")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise TuneError(f"--formats {unknown}: choose from {', '.join(FORMATS)}")
        if self.limit is not None and self.limit < 1:
            raise TuneError(f"--max-candidates must be >= 1, got {self.limit}")

    def candidates(self) -> list[Candidate]:
        out: list[Candidate] = []
        seen = set()
        threads = sorted(set(self.thread_counts)) if self.thread_counts else [None]
        for fmt, mbs, delay, inst, thr in itertools.product(
            self.formats, sorted(set(self.max_batch_sizes)), sorted(set(self.queue_delays_us)),
            sorted(set(self.instance_counts)), threads,
        ):
            prefs = [preferred_for(mbs)] if self.preferred is None else [
                tuple(b for b in p if b <= mbs) for p in self.preferred
            ]
            for pref in prefs:
                c = Candidate(fmt, mbs, tuple(pref), delay, inst, thr)
                if c not in seen:
                    seen.add(c)
                    out.append(c)
        if self.limit is not None:
            out = out[: self.limit]
        return out


def parse_int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise TuneError(f"{option} '{text}' must be a comma-separated list of integers, e.g. 1,4,8") from None
    if not values:
        raise TuneError(f"{option} needs at least one value")
    return values


def parse_preferred(text: str) -> list[tuple[int, ...]]:
    """``"4,8;8;-"`` -> ``[(4, 8), (8,), ()]`` (``-`` for no preferred sizes)."""
    out = []
    for part in text.split(";"):
        part = part.strip()
        out.append(() if part in ("-", "") else tuple(parse_int_list(part, "--preferred")))
    return out
