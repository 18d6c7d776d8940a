"""config.properties and model-config.yaml -> Triton config fields; the rest listed, not dropped."""

from __future__ import annotations

import pytest

from tritonctl.importer import settings
from tritonctl.importer.archive import ArchiveError

PROPS = """
# TorchServe's config.properties, as its docs write it
inference_address=http://0.0.0.0:8080
metrics_mode=prometheus
job_queue_size=64
models={\\
  "mnist": {\\
    "1.0": {\\
        "defaultVersion": true,\\
        "marName": "mnist.mar",\\
        "minWorkers": 1,\\
        "maxWorkers": 3,\\
        "batchSize": 8,\\
        "maxBatchDelay": 25,\\
        "responseTimeout": 30\\
    }\\
  }\\
}
"""


def test_properties_with_continued_lines_parse_like_java_does():
    props = settings.parse_properties(PROPS)
    assert props["inference_address"] == "http://0.0.0.0:8080"
    assert props["job_queue_size"] == "64"
    assert '"batchSize": 8' in props["models"]


def test_per_model_json_overrides_the_archive_yaml_and_maps_to_triton_fields():
    props = settings.parse_properties(PROPS)
    s, notes = settings.model_settings("mnist", "1.0", {"batchSize": 2, "maxBatchDelay": 5, "parallelType": "pp"}, props, "cp")
    m = settings.map_settings(s, props, notes)
    assert m.max_batch_size == 8
    assert m.dynamic_batching == {
        "max_queue_delay_microseconds": 25_000,
        "default_queue_policy": {"default_timeout_microseconds": 30_000_000, "timeout_action": "reject", "max_queue_size": 64},
    }
    assert m.instance_count == 3
    text = "\n".join(m.unmapped)
    assert "parallelType=pp (model-config.yaml): no Triton equivalent" in text
    assert "minWorkers 1 < maxWorkers 3" in text
    assert "inference_address=http://0.0.0.0:8080: server setting, in Triton: tritonctl serve --http-port" in text
    assert "metrics_mode=prometheus" in text


def test_without_batching_there_is_no_batch_delay_to_map():
    s, notes = settings.model_settings("m", "1.0", {"maxBatchDelay": 50}, None, None)
    m = settings.map_settings(s, None, notes)
    assert (m.max_batch_size, m.dynamic_batching) == (1, False)
    assert any("batchSize is 1, so there is no batch to wait for" in u for u in m.unmapped)


def test_a_bad_number_names_where_it_came_from():
    with pytest.raises(ArchiveError, match=r"cp models.m: batchSize must be an integer, got 'eight'"):
        settings.model_settings("m", "1.0", {}, {"models": '{"m": {"1.0": {"batchSize": "eight"}}}'}, "cp")
    with pytest.raises(ArchiveError, match=r"`models=` is not valid JSON"):
        settings.model_settings("m", "1.0", {}, {"models": '{"m": '}, "cp")
