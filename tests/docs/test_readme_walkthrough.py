"""The README's walkthrough, run as written: every fenced block under its heading, in order, in an
empty directory, against a real local Triton.

`# file: NAME` on a block's first line writes the block to that file; other Python blocks run with
this interpreter; bash blocks run line by line (each line as a user types it). What changes: the
server's ports (free ones, not 8000-8002, which a developer's own server may hold) and the client's
address with them. The `helm` lines need a cluster: instead, the values file of the walkthrough is
linted and rendered with Helm's own engine (helm-python-sdk, as tests/chart does), so a value name
the chart does not have fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from readme_blocks import walkthrough_blocks
from tritonctl.endpoints import free_ports

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "chart"))


def test_the_walkthrough_extractor_sees_every_step():
    kinds = [(lang, code.splitlines()[0]) for lang, code in walkthrough_blocks()]
    assert ("python", "# file: mymodel.py") in kinds and ("yaml", "# file: models.yaml") in kinds
    assert ("yaml", "# file: my-values.yaml") in kinds
    commands = "\n".join(code for lang, code in walkthrough_blocks() if lang == "bash")
    for step in ("tritonctl build", "tritonctl check", "tritonctl serve", "tritonctl status", "tritonctl rollback",
                 "tritonctl push", "helm install"):
        assert step in commands, step


@pytest.mark.integration
def test_readme_walkthrough_runs_as_written(tmp_path):
    http, grpc, metrics = free_ports(3)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TRITONCTL": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("TRITON_ADMIN_KEY", None)
    ran: dict[str, str] = {}  # command line -> its output
    helm_skipped: list[str] = []

    def sh(line: str) -> None:
        if line.startswith("helm "):
            helm_skipped.append(line)  # needs a cluster: the values file is rendered below instead
            return
        if line.startswith("tritonctl serve"):
            line = line.replace("tritonctl serve model_repository",
                                f"tritonctl serve model_repository --http-port {http} --grpc-port {grpc} --metrics-port {metrics}")
        res = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"$ {line}\n{res.stdout}\n{res.stderr}"
        ran[line] = res.stdout

    try:
        for lang, code in walkthrough_blocks():
            first = code.splitlines()[0]
            if first.startswith("# file: "):
                (tmp_path / first[len("# file: "):].strip()).write_text(code)
            elif lang == "python":
                assert '"localhost:8001"' in code  # the address a reader's own server has
                res = subprocess.run([sys.executable, "-c", code.replace('"localhost:8001"', f'"localhost:{grpc}"')],
                                     cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
                assert res.returncode == 0, res.stderr
                assert res.stdout.strip() == "(2, 3)", res.stdout  # what the snippet's comment promises
                ran["client"] = res.stdout
            elif lang == "bash":
                for line in code.splitlines():
                    if line.strip() and not line.lstrip().startswith("#"):
                        sh(line.split("  #")[0].strip() if "  #" in line else line.strip())
    finally:
        subprocess.run([sys.executable, "-m", "tritonctl", "stop"], cwd=tmp_path, env=env, capture_output=True, timeout=120)

    out = "\n".join(ran.values())
    assert "client" in ran and (tmp_path / "model_repository" / "scorer" / "2").is_dir()
    rollbacks = [v for k, v in ran.items() if k.startswith("tritonctl rollback")]
    assert len(rollbacks) == 2, ran.keys()
    # --to latest: the model's own policy (latest: 2) again; the polling server may or may not have
    # loaded version 2 when the build returned, so `was` is 1 or 1, 2
    assert re.search(r"scorer: serving version 1, 2 \(was 1(, 2)?\)", rollbacks[0]), rollbacks[0]
    assert "scorer: serving version 1 (was 1, 2)" in rollbacks[1], rollbacks[1]
    assert "scorer" in out and (tmp_path / "published" / "scorer" / "config.pbtxt").is_file()

    # the helm lines, without a cluster: the walkthrough's values through Helm's engine
    import helm_engine

    assert [line.split()[:2] for line in helm_skipped] == [["helm", "install"], ["helm", "test"]]
    values = yaml.safe_load((tmp_path / "my-values.yaml").read_text())
    assert helm_engine.lint(values) == []
    rendered = helm_engine.render(values)
    deployment = next(o for o in helm_engine.objects(rendered) if o["kind"] == "Deployment")
    args = " ".join(" ".join(c.get("args", []) + c.get("command", [])) for c in deployment["spec"]["template"]["spec"]["containers"])
    assert "--model-repository=s3://my-models/prod" in args and "--model-control-mode=poll" in args, args
