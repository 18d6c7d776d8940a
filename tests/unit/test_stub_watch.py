"""StubWatch's rule for "a stub died while still needed", on scripted sequences of stubs.

The processes and Triton's answers are replaced by the sequences a real server goes through
(the end-to-end cases, a stub killed under load and an unload/reload, are in
tests/integration/test_lifecycle.py); these cover the orderings a 0.5 s poll may or may not see.
"""

from __future__ import annotations

import pytest

from tritonctl.server import stubs
from tritonctl.server.stubs import Stub, StubWatch

OLD = Stub(pid=101, started=100, model="linear", version="1", instance="linear_0_0")
NEW = Stub(pid=202, started=200, model="linear", version="1", instance="linear_0_0")


@pytest.fixture
def scripted(monkeypatch):
    """Returns set(live): the stubs the next scan of /proc finds; Triton serves linear v1 with
    instance linear_0_0 READY throughout."""
    state = {"live": []}
    monkeypatch.setattr(stubs, "backend_stubs", lambda pid: list(state["live"]))
    monkeypatch.setattr(StubWatch, "_expected_instances",
                        lambda self, versions: {v: {"linear_0_0"} for v in versions if v == ("linear", "1")})

    def set_live(*live):
        state["live"] = list(live)

    return set_live


def test_the_only_stub_of_a_served_instance_gone_is_reported(scripted):
    scripted(OLD)
    watch = StubWatch(server_pid=1, url="unused")
    scripted()
    assert watch.poll() == [OLD]


def test_a_failed_reload_whose_new_stub_exits_while_the_old_one_serves_is_not_a_crash(scripted):
    # Triton starts the candidate's stub beside the serving one; the candidate's load fails, its
    # stub exits, and the old version keeps serving with its own stub (tune's refused candidates).
    scripted(OLD)
    watch = StubWatch(server_pid=1, url="unused")
    scripted(OLD, NEW)
    assert watch.poll() == []
    scripted(OLD)
    assert watch.poll() == []


def test_a_replacement_killed_after_its_predecessor_left_is_reported(scripted):
    scripted(OLD)
    watch = StubWatch(server_pid=1, url="unused")
    scripted(OLD, NEW)
    assert watch.poll() == []
    scripted()  # the old stub left with the reload, the new one was killed: both gone at one look
    assert watch.poll() == [NEW]
