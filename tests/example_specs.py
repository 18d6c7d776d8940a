"""models.yaml text the tests share: the example `linear` model (examples/linear.py) as a user declares
it, for the specs that tests write around it (their comments and other keys are what they test)."""

from __future__ import annotations


def linear_entry(name: str = "linear", *more: str) -> str:
    """One `models:` item (two-space list indent) for examples.linear:build, then the lines of `more`
    (e.g. "max_batch_size: 8   # a comment", "dynamic_batching:", "  preserve_ordering: true")."""
    lines = [f"name: {name}", "source: examples.linear:build", "inputs: [{name: x, dtype: float32, shape: [10]}]",
             "outputs: [{name: y, dtype: float32, shape: [2]}]", *more]
    return "".join(("  - " if i == 0 else "    ") + line + "\n" for i, line in enumerate(lines))
