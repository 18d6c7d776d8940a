"""What the tests of tests/install share: the environment for a command run in another venv."""

from __future__ import annotations

import os


def foreign_venv_env() -> dict:
    """This process's environment without what points Python at this venv or the checkout
    (PYTHONPATH, VIRTUAL_ENV): the other venv's own interpreter decides what it imports."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
