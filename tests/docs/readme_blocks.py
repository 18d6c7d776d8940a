"""The README's walkthrough as code: its fenced blocks, in order, for the tests that run them
(tests/docs/test_readme_walkthrough.py runs all of it; tests/install/test_torch_bounds.py builds its
model with the oldest and newest torch pyproject.toml claims)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Five minutes with your own model"


def walkthrough_blocks(readme: str | None = None) -> list[tuple[str, str]]:
    """(language, code) of every fenced block between HEADING and the next level-2 heading."""
    readme = (ROOT / "README.md").read_text() if readme is None else readme
    section = readme.split(HEADING, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)


def walkthrough_files() -> dict[str, str]:
    """The files the walkthrough writes: a block whose first line is `# file: NAME`, by NAME."""
    files = {}
    for _, code in walkthrough_blocks():
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            files[first[len("# file: "):].strip()] = code
    return files
