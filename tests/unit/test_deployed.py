"""`deployed.pin` and `deployed.collect` against a scripted server (an HTTP client's calls, answered
from a list): a failed switch leaves no pin on disk, a version that cannot load fails at once with
Triton's reason, `--to latest` brings back the model's own policy, and a policy nobody can know is
shown as unknown. The real server's side: tests/integration/test_rollout.py, test_status.py."""

from __future__ import annotations

import time

import pytest
from tritonclient.utils import InferenceServerException

from tritonctl import config as C
from tritonctl import deployed
from tritonctl.client import config_message
from tritonctl.errors import ClientError
from tritonctl.process import NotReady
from tritonctl.server.health import ModelLoadFailed


def _entry(version, state, reason=""):
    return {"name": "m", "version": str(version), "state": state, "reason": reason}


class Server:
    """Answers the repository index from ``indexes`` (one per call, the last one repeated; an
    exception instance is raised); records loads. Its module is not tritonclient.grpc: HTTP."""

    def __init__(self, indexes, config=None, load_error=None):
        self.indexes, self.config, self.load_error = list(indexes), config or {}, load_error
        self.loads: list = []

    def get_model_repository_index(self, headers=None):
        answer = self.indexes.pop(0) if len(self.indexes) > 1 else self.indexes[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def load_model(self, model, config=None, headers=None):
        self.loads.append(config)
        if self.load_error:
            raise InferenceServerException(self.load_error)

    def get_model_config(self, model, version="", headers=None):
        return self.config

    def get_server_metadata(self, headers=None):
        return {"version": "2.62.0"}

    def get_inference_statistics(self, model="", version="", headers=None):
        return {"model_stats": []}


def _repo(tmp_path, versions=(1, 2), policy=None):
    repo = tmp_path / "repo"
    for v in versions:
        (repo / "m" / str(v)).mkdir(parents=True)
    cfg = config_message({"name": "m", "platform": "onnxruntime_onnx", "max_batch_size": 8,
                          **({"version_policy": policy} if policy else {})})
    (repo / "m" / "config.pbtxt").write_text(C.to_text(cfg))
    return repo


# 3: a failed switch puts config.pbtxt back
def test_a_refused_load_restores_the_config_and_says_so(tmp_path):
    repo = _repo(tmp_path)
    before = (repo / "m" / "config.pbtxt").read_text()
    server = Server([[_entry(1, "UNAVAILABLE", "unloaded"), _entry(2, "READY")]],
                    load_error="load failed for model 'm': version 1 is corrupt")
    with pytest.raises(ClientError) as err:
        deployed.pin(server, "m", "1", repo, mode="explicit", timeout_s=5)
    assert (repo / "m" / "config.pbtxt").read_text() == before
    assert "version 1 is corrupt" in str(err.value) and "is restored" in str(err.value), err.value
    assert not list((repo / "m").glob("*.tmp*")), list((repo / "m").iterdir())


def test_a_switch_the_server_does_not_apply_in_time_restores_the_config(tmp_path):
    repo = _repo(tmp_path)
    before = (repo / "m" / "config.pbtxt").read_text()
    server = Server([[_entry(1, "UNAVAILABLE", "unloaded"), _entry(2, "READY")]])
    with pytest.raises(NotReady) as err:  # a polling server that never polls
        deployed.pin(server, "m", "1", repo, mode="poll", timeout_s=0.5)
    assert (repo / "m" / "config.pbtxt").read_text() == before
    assert "serves version(s) 2" in str(err.value) and "is restored" in str(err.value), err.value


# 4: the shared waiter
def test_a_version_that_cannot_load_fails_at_once_with_tritons_reason(tmp_path):
    repo = _repo(tmp_path)
    before = (repo / "m" / "config.pbtxt").read_text()
    failed = "failed to load 'm' version 1: Invalid argument: model.onnx is not a valid ONNX file"
    server = Server([[_entry(1, "UNAVAILABLE", "unloaded"), _entry(2, "READY")],  # before the pin
                     [_entry(1, "UNAVAILABLE", failed), _entry(2, "READY")]])  # the poll tried it
    start = time.monotonic()
    with pytest.raises(ModelLoadFailed) as err:
        deployed.pin(server, "m", "1", repo, mode="poll", timeout_s=60)
    assert time.monotonic() - start < 10
    assert "not a valid ONNX file" in str(err.value) and err.value.status.version == "1"
    assert (repo / "m" / "config.pbtxt").read_text() == before


def test_a_connection_hiccup_while_waiting_is_not_yet(tmp_path):
    repo = _repo(tmp_path)
    server = Server([[_entry(1, "UNAVAILABLE", "unloaded"), _entry(2, "READY")],
                     InferenceServerException("[StatusCode.UNAVAILABLE] failed to connect to all addresses"),
                     [_entry(1, "READY"), _entry(2, "UNAVAILABLE", "unloaded")]])
    result = deployed.pin(server, "m", "1", repo, mode="poll", timeout_s=30)
    assert result.served == ["1"] and result.was == ["2"] and result.policy == "specific 1"


# 5: --to latest brings back the model's own policy
def test_latest_restores_the_policy_the_model_had_before_the_pin(tmp_path):
    repo = _repo(tmp_path, versions=(1, 2, 3), policy={"latest": {"num_versions": 2}})
    path = repo / "m" / "config.pbtxt"
    first = deployed.pin(None, "m", None, repo)  # serves 2, 3: back to 2
    assert first.was == ["2", "3"] and first.served == ["2"] and first.policy == "specific 2"
    deployed.pin(None, "m", "1", repo)  # a second pin keeps what the first one replaced
    result = deployed.pin(None, "m", "latest", repo)
    cfg = C.read_config(path)
    assert result.policy == "latest 2" and result.served == ["2", "3"], result
    assert cfg.version_policy.latest.num_versions == 2 and deployed.POLICY_BEFORE_PIN not in cfg.parameters
    assert cfg.max_batch_size == 8


def test_latest_without_a_directory_restores_the_served_policy_and_waits_for_what_it_selects(tmp_path):
    pinned = C.parse(C.to_text(config_message({"name": "m", "platform": "onnxruntime_onnx",
                                               "version_policy": {"latest": {"num_versions": 2}}})))
    deployed.apply_target(pinned, "1")
    from google.protobuf import json_format

    served_config = json_format.MessageToDict(pinned, preserving_proto_field_name=True)
    assert served_config["parameters"][deployed.POLICY_BEFORE_PIN]
    server = Server([[_entry(1, "READY"), _entry(2, "UNAVAILABLE", "unloaded"), _entry(3, "UNAVAILABLE", "unloaded")],
                     [_entry(1, "READY"), _entry(2, "UNAVAILABLE", "unloaded"), _entry(3, "UNAVAILABLE", "unloaded")],
                     [_entry(1, "READY"), _entry(2, "READY"), _entry(3, "READY")],  # not yet: 1 still serves
                     [_entry(1, "UNAVAILABLE", "unloaded"), _entry(2, "READY"), _entry(3, "READY")]],
                    config=served_config)
    result = deployed.pin(server, "m", "latest", None, timeout_s=30)
    assert result.policy == "latest 2" and result.served == ["2", "3"] and result.was == ["1"], result
    sent = server.loads[0]
    assert '"num_versions": 2' in sent.replace("'", '"') and deployed.POLICY_BEFORE_PIN not in sent, sent


# 8: no guess shown as fact
def test_a_model_with_no_ready_version_and_no_repository_has_an_unknown_policy():
    server = Server([[_entry(1, "UNAVAILABLE", "failed to load 'm' version 1: boom")]])
    report = deployed.collect(server, "localhost:8000")
    assert report.models[0].policy == "unknown", report
    assert "unknown" in deployed.format_report(report)


# 7: a server that answers and refuses is not "cannot reach"
def test_a_restricted_server_metadata_is_explained_with_the_key_not_as_unreachable():
    class Restricted(Server):
        def get_server_metadata(self, headers=None):
            raise InferenceServerException("This API is restricted, expecting header 'triton-admin-key'")

    with pytest.raises(ClientError) as err:
        deployed.collect(Restricted([[]]), "localhost:8000")
    assert "--admin-key" in str(err.value) and "cannot reach" not in str(err.value), err.value
    assert err.value.__cause__ is not None
