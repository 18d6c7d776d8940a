"""The pod's constraints, enforced: the local tritonserver runs with the rendered Triton
container's args and env (CPU-only scenario) as the pod's user, on a read-only root with only the
pod's volumes writable at their sizes (tests/chart/podkit.py: unshare -m, tmpfs, setpriv), and
serves the example repository, Python models (digits_pipeline) included. That proves the
writable paths the chart grants are the ones Triton and its Python backend need."""

from __future__ import annotations

import copy
import os
import re
import subprocess

import numpy as np
import pytest
import yaml

import helm_engine
import podkit
from manifest_lookup import SCENARIOS, pod_spec, triton_container

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces (unshare -m) and setpriv need root; CI runs as root"),
]

SAMPLES = helm_engine.ROOT / "examples" / "digits_samples"


@pytest.fixture(scope="module")
def pod_objs(render):
    return render(yaml.safe_load(SCENARIOS["cpu-only-values"].read_text()))


@pytest.fixture(scope="module")
def pod(pod_objs, example_repository, tmp_path_factory):
    with podkit.start_chart_triton(pod_objs, example_repository, tmp_path_factory.mktemp("pod"), sandbox=True) as server:
        yield server


def _status(pid: int) -> dict[str, str]:
    text = open(f"/proc/{pid}/status").read()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _group_pids(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    out.append(int(entry))
            except ProcessLookupError:
                pass
    return out


def _in_pod(pod, script: str) -> subprocess.CompletedProcess:
    """Run ``sh -c script`` in the server's mount namespace and root, as the pod's user."""
    pid = pod.proc.pid
    uid = _status(pid)["Uid"].split()[0]
    gid = _status(pid)["Gid"].split()[0]
    return subprocess.run(["nsenter", f"--target={pid}", "--mount", "--root", "--wd=/",
                           "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "sh", "-c", script],
                          capture_output=True, text=True, timeout=30)


def admin_headers(pod) -> dict[str, str]:
    """The header of the restricted APIs (the repository index is one), with the key podkit
    expanded from the chart's Secret into the --http-restricted-api=<apis>:<header>=<key> arg."""
    flag = next(a for a in pod.args if a.startswith("--http-restricted-api="))
    header, key = flag.split(":", 1)[1].split("=", 1)
    return {header: key}


def test_every_model_of_the_example_repository_should_load_under_the_pod_constraints(pod):
    from tritonctl import client as tc

    c = tc.make_client(pod.http, "http")
    try:
        index = {m["name"]: m.get("state")
                 for m in tc.call("repository index", c.get_model_repository_index, headers=admin_headers(pod))}
    finally:
        c.close()
    assert index == {m: "READY" for m in ("digits", "digits_torchscript", "digits_preprocess",
                                           "digits_postprocess", "digits_pipeline")}, pod.log_tail()


def test_the_server_and_its_python_stubs_should_run_as_the_pods_user_without_privileges(pod, pod_objs):
    security = triton_container(pod_objs)["securityContext"]
    pids = _group_pids(pod.proc.pid)
    stubs = [p for p in pids if "triton_python_backend_stub" in open(f"/proc/{p}/cmdline").read()]
    assert len(stubs) == 4, f"one stub per Python-run model instance expected, got {len(stubs)}"
    for pid in pids:
        st = _status(pid)
        assert st["Uid"].split() == [str(security["runAsUser"])] * 4, (pid, st["Uid"])
        assert st["Gid"].split() == [str(security["runAsGroup"])] * 4, (pid, st["Gid"])
        assert st["Groups"].strip() == ""
        assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0  # capabilities.drop: [ALL]
        assert st["NoNewPrivs"].strip() == "1"  # allowPrivilegeEscalation: false


def test_the_digits_pipeline_should_classify_a_png_through_its_python_models(pod):
    from tritonctl import client as tc

    c = tc.make_client(pod.grpc, "grpc")
    try:
        for png in sorted(SAMPLES.glob("*_label*.png"))[:3]:
            expected = re.search(r"_label(\d)", png.name).group(1)
            out = tc.infer(c, "digits_pipeline", {"IMAGE": np.array([[png.read_bytes()]], dtype=np.object_)})
            labels = [v.decode() for v in out["LABELS"].reshape(-1)]
            scores = out["SCORES"].reshape(-1)
            assert labels[0] == expected, (png.name, labels, scores)
            assert list(scores) == sorted(scores, reverse=True) and 0 < scores.sum() <= 1.0001
    finally:
        c.close()


def test_only_the_pods_volumes_should_be_writable(pod, pod_objs):
    volumes = podkit.pod_volumes(pod_spec(pod_objs), triton_container(pod_objs))
    writable = sorted(volumes.tmpfs)
    assert writable == ["/dev/shm", "/tmp"], writable
    for path in writable:
        probe = _in_pod(pod, f"touch {path}/probe && rm {path}/probe")
        assert probe.returncode == 0, f"{path} should be writable: {probe.stderr}"
    read_only = ["/", "/etc", "/usr/lib", str(helm_engine.ROOT), volumes.repository_mount]
    for path in read_only:
        probe = _in_pod(pod, f"touch {path}/probe")
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr, (path, probe.stderr)


def test_each_emptydir_should_have_the_size_the_chart_gives_it(pod, pod_objs):
    volumes = podkit.pod_volumes(pod_spec(pod_objs), triton_container(pod_objs))
    for path, size in volumes.tmpfs.items():
        st = os.statvfs(f"/proc/{pod.proc.pid}/root{path}")
        assert st.f_blocks * st.f_frsize == size, (path, st.f_blocks * st.f_frsize, size)


def test_the_python_backend_should_keep_its_shared_memory_in_the_shm_volume(pod, pod_objs):
    args = triton_container(pod_objs)["args"]
    region = int(next(a for a in args if "shm-default-byte-size" in a).rsplit("=", 1)[1])
    shm = f"/proc/{pod.proc.pid}/root/dev/shm"
    regions = [f for f in os.listdir(shm) if f.startswith("triton_")]
    assert len(regions) == 4, regions  # one per Python-run model instance (two Python models, two CPU shims)
    sizes = [os.stat(f"{shm}/{f}").st_size for f in regions]
    assert all(s >= region for s in sizes), (sizes, region)
    volumes = podkit.pod_volumes(pod_spec(pod_objs), triton_container(pod_objs))
    assert sum(sizes) <= volumes.tmpfs["/dev/shm"]


def test_without_the_charts_shm_volume_the_python_models_should_fail_to_load(pod_objs, example_repository, tmp_path):
    """The negative control: the /dev/shm grant is needed, not decoration."""
    objs = copy.deepcopy(pod_objs)
    container = triton_container(objs)
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["mountPath"] != "/dev/shm"]
    with pytest.raises(pytest.fail.Exception, match=r"(?s)Unable to initialize shared memory.*Read-only file system"):
        with podkit.start_chart_triton(objs, example_repository, tmp_path, sandbox=True, timeout=120):
            pass
