"""tritonctl demo: a failed digit-sample run skips the load with its stderr, not a Locust run without samples."""

import subprocess

from tritonctl import demo
from tritonctl.bench import locust_run


def test_a_failed_sample_run_skips_the_load_and_says_why(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, stdout="", stderr="ModuleNotFoundError: No module named 'PIL'\n"))
    ran = []
    monkeypatch.setattr(locust_run, "run_headless", lambda *a, **kw: ran.append(a))
    assert demo.run_load("localhost:8000", "localhost:8001", 5, tmp_path) is None
    assert not ran
    out = capsys.readouterr().out
    assert "digit_samples.py failed" in out and "No module named 'PIL'" in out
