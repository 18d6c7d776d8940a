"""Exporter units: one module per format, found by the registry, the only list of formats there is."""

from __future__ import annotations

import textwrap

import pytest

from tritonctl import config, exporters, spec as spec_mod

UNIT = '''
FORMAT = "{fmt}"
PLATFORM = "{fmt}_platform"
FILENAME = "model.{fmt}"


def export(job):
    job.path.write_text("artifact")
    return lambda inputs: inputs
'''


def make_package(tmp_path, monkeypatch, name: str, files: dict[str, str]) -> str:
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for fname, text in files.items():
        (pkg / fname).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_new_format_is_one_file_the_registry_finds_by_its_format_name(tmp_path, monkeypatch):
    pkg = make_package(tmp_path, monkeypatch, "units_one", {
        "torch2aoti.py": UNIT.format(fmt="aoti"),
        "helpers.py": "def shared():\n    return 1\n",  # no FORMAT: not a unit
    })
    units = exporters.discover(pkg)
    assert list(units) == ["aoti"]
    assert units["aoti"].__name__ == f"{pkg}.torch2aoti"


def test_a_unit_missing_part_of_the_contract_is_refused_naming_what_is_missing(tmp_path, monkeypatch):
    pkg = make_package(tmp_path, monkeypatch, "units_half", {"half.py": 'FORMAT = "half"\nFILENAME = "model.half"\n'})
    with pytest.raises(TypeError, match=r"units_half\.half defines FORMAT but not PLATFORM, export"):
        exporters.discover(pkg)


def test_two_units_claiming_one_format_are_refused_naming_both(tmp_path, monkeypatch):
    pkg = make_package(tmp_path, monkeypatch, "units_twice", {"a.py": UNIT.format(fmt="x"), "b.py": UNIT.format(fmt="x")})
    with pytest.raises(TypeError, match=r"'x' is exported by both units_twice\.a and units_twice\.b"):
        exporters.discover(pkg)


# Triton's platform strings and default file names (model_config.proto, backend docs).
TRITON = {"onnx": ("onnxruntime_onnx", "model.onnx"), "torchscript": ("pytorch_libtorch", "model.pt"),
          "tensorrt": ("tensorrt_plan", "model.plan")}


def test_the_shipped_units_are_the_formats_models_yaml_accepts_and_config_writes():
    assert set(exporters.FORMATS) == set(TRITON)
    for fmt in exporters.FORMATS:
        m = spec_mod.ModelSpec.model_validate({
            "name": "m", "source": "a.b:c", "formats": [fmt],
            "inputs": [{"name": "x", "dtype": "float32", "shape": [4]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [3]}],
        })
        cfg = config.model_config(m, fmt)
        assert (cfg.platform, config.artifact_filename(fmt)) == TRITON[fmt]


def test_a_format_no_unit_exports_is_refused_by_the_spec():
    with pytest.raises(Exception) as exc:
        spec_mod.ModelSpec.model_validate({
            "name": "m", "source": "a.b:c", "formats": ["aoti"],
            "inputs": [{"name": "x", "dtype": "float32", "shape": [4]}],
        })
    assert "'onnx', 'tensorrt' or 'torchscript'" in str(exc.value)
