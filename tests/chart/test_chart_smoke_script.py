"""The `helm test` script builds valid random inputs from model metadata."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

import helm_engine

# the script imports triton_wire.py beside it, as in the pod (the ConfigMap mounts both in /scripts)
sys.path.insert(0, str(helm_engine.CHART / "files"))
try:
    spec = importlib.util.spec_from_file_location("smoke_test", helm_engine.CHART / "files" / "smoke_test.py")
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)
finally:
    sys.path.remove(str(helm_engine.CHART / "files"))


def test_the_batch_dimension_should_be_one_and_other_variable_dimensions_the_default_length():
    meta = {"inputs": [{"name": "ids", "datatype": "INT64", "shape": [-1, -1]}]}
    inputs = smoke.random_inputs(meta, {"max_batch_size": 8})
    assert inputs["ids"][1].shape == (1, smoke.DYNAMIC_DIM.opt)


def test_integer_inputs_should_be_drawn_from_the_values_range_the_config_carries():
    """tritonctl build writes models.yaml's values: into config.pbtxt; ids stay below an embedding's size."""
    meta = {"inputs": [{"name": "category", "datatype": "INT64", "shape": [-1, 256]}]}
    config = {"max_batch_size": 4, "parameters": {"tritonctl.values": {"string_value": '{"category":[0,5]}'}}}
    ids = smoke.random_inputs(meta, config)["category"][1]
    assert set(np.unique(ids).tolist()) == {0, 1, 2, 3, 4}


def test_random_inputs_should_match_each_inputs_datatype_and_shape():
    meta = {"name": "digits", "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]},
                                         {"name": "ids", "datatype": "INT64", "shape": [4]},
                                         {"name": "mask", "datatype": "BOOL", "shape": [2]}]}
    inputs = smoke.random_inputs(meta, {"max_batch_size": 8})
    assert inputs["image"][0] == "FP32" and inputs["image"][1].shape == (1, 1, 28, 28)
    assert inputs["image"][1].dtype == np.float32
    assert inputs["ids"][1].dtype == np.int64 and inputs["mask"][1].dtype == np.bool_


def test_a_model_with_bytes_inputs_should_be_skipped_for_random_data():
    assert smoke.random_inputs({"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [-1, 1]}]}) is None


def test_a_named_model_should_be_the_only_candidate():
    assert smoke.candidates(None, "linear", "1") == [("linear", "1")]


def test_without_a_model_every_ready_model_should_be_a_candidate_in_index_order():
    class Index:
        sent = None

        def get_model_repository_index(self, headers=None):
            self.sent = headers
            return [{"name": "a", "version": "1", "state": "READY"}, {"name": "b", "state": "UNAVAILABLE"},
                    {"name": "c", "version": "2", "state": "READY"}]

    index = Index()
    assert smoke.candidates(index, "", "", {"triton-admin-key": "k"}) == [("a", "1"), ("c", "2")]
    assert index.sent == {"triton-admin-key": "k"}  # the index is a restricted (model-repository) API


def test_given_inputs_should_use_the_data_from_values_and_encode_bytes():
    inputs = smoke.given_inputs([{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]},
                                 {"name": "IMAGE", "datatype": "BYTES", "shape": [1, 1], "data": ["abc"]},
                                 {"name": "z", "datatype": "INT32", "shape": [3]}])
    assert inputs["x"][1].tolist() == [[1.0, 2.0]] and inputs["x"][1].dtype == np.float32
    assert inputs["IMAGE"][1].tolist() == [[b"abc"]]
    assert inputs["z"][1].shape == (3,) and inputs["z"][1].dtype == np.int32


def test_the_restricted_api_key_should_go_in_the_http_header_and_the_prefixed_grpc_metadata(monkeypatch):
    """Triton reads HTTP header <key> and gRPC metadata triton-grpc-protocol-<key> (its docs)."""
    monkeypatch.setenv("RESTRICTED_API_HEADER", "triton-admin-key")
    monkeypatch.setenv("RESTRICTED_API_KEY", "k3y")
    assert smoke.restricted_api_headers() == ({"triton-admin-key": "k3y"}, {"triton-grpc-protocol-triton-admin-key": "k3y"})
    monkeypatch.delenv("RESTRICTED_API_KEY")
    assert smoke.restricted_api_headers() == ({}, {})
