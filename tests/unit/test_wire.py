"""tritonctl.wire, the lowest layer: URLs (TLS kept), shapes, random inputs honouring values:, and
its generated copies for the Locust files and the chart's helm-test script."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tritonctl.wire import inputs, shapes, urls
from tritonctl.wire.urls import Target

ROOT = Path(__file__).resolve().parents[2]
WIRE = ROOT / "tools" / "tritonctl" / "wire"
sys.path.insert(0, str(ROOT / "tools" / "chart"))
import wire_bundle  # noqa: E402  (tools/chart is not a package: the generator runs as a script)


# ------------------------------------------------------------------------------ URLs
@pytest.mark.parametrize(
    "text,protocol,expected",
    [
        (None, None, Target("grpc", "localhost:8001")),
        (None, "http", Target("http", "localhost:8000")),
        ("h", None, Target("grpc", "h:8001")),
        ("h:9000", "http", Target("http", "h:9000")),
        ("http://h:9000/", None, Target("http", "h:9000")),
        ("http://h/prefix/", None, Target("http", "h:8000/prefix")),
        ("https://h", None, Target("http", "h:443", True)),
        ("grpcs://h:9443", None, Target("grpc", "h:9443", True)),
        ("GRPC://h", None, Target("grpc", "h:8001")),
    ],
)
def test_parse_url_should_give_protocol_address_and_keep_tls(text, protocol, expected):
    assert urls.parse_url(text, protocol) == expected


def test_a_url_without_a_port_should_get_the_callers_default_port():
    # Locust's --host is a browser URL: http://ingress means port 80, not Triton's 8000
    assert urls.parse_url("http://ingress", None, {"http": 80}) == Target("http", "ingress:80")


def test_a_target_should_print_as_the_url_it_was_parsed_from_with_its_tls_scheme():
    assert str(urls.parse_url("grpcs://h:1")) == "grpcs://h:1"
    assert urls.parse_url(str(Target("http", "h:1/p", True))) == Target("http", "h:1/p", True)


@pytest.mark.parametrize("text,protocol,message", [
    ("ftp://h", None, "scheme 'ftp'"),
    ("http://h:1", "grpc", "says http but --protocol is grpc"),
    ("h:1", "tcp", "protocol 'tcp'"),
])
def test_parse_url_should_refuse_what_names_no_triton_endpoint(text, protocol, message):
    with pytest.raises(urls.UrlError, match=message):
        urls.parse_url(text, protocol)


# ------------------------------------------------------------------------------ shapes
def test_request_shape_should_prepend_the_batch_and_fill_dynamic_dims():
    assert shapes.request_shape([-1, 3], 4, dynamic=7) == [4, 7, 3]
    assert shapes.request_shape([-1, 3], None) == [shapes.DYNAMIC_DIM.opt, 3]


def test_metadata_shape_should_cap_the_batch_at_max_batch_size():
    assert shapes.metadata_shape([-1, 1, 28, 28], 32, 4, 16) == [4, 1, 28, 28]
    assert shapes.metadata_shape([-1, -1], 8, 64, 12) == [8, 12]
    assert shapes.metadata_shape([-1, 3], 0, 4, 5) == [5, 3]


# ------------------------------------------------------------------------------ inputs
def test_integers_should_cover_the_values_range_and_nothing_beyond():
    a = inputs.random_array(np.int32, [1000], np.random.default_rng(0), (3, 6))
    assert a.dtype == np.int32 and set(np.unique(a).tolist()) == {3, 4, 5}


def test_integers_without_values_should_cover_the_documented_default_range():
    a = inputs.random_array("int64", [1000], np.random.default_rng(0))
    low, high = inputs.DEFAULT_INT_VALUES
    assert set(np.unique(a).tolist()) == set(range(low, high))


def test_floats_with_values_should_stay_inside_them_and_without_be_standard_normal():
    inside = inputs.random_array(np.float32, [1000], np.random.default_rng(0), (2.0, 3.0))
    assert inside.dtype == np.float32 and inside.min() >= 2.0 and inside.max() < 3.0
    normal = inputs.random_array(np.float64, [10000], np.random.default_rng(0))
    assert normal.min() < 0 < normal.max() and abs(normal.std() - 1) < 0.05


def test_bool_and_bytes_inputs_should_get_their_own_kinds_of_values():
    flags = inputs.random_array(np.bool_, [100], np.random.default_rng(0), (0, 9))
    assert flags.dtype == np.bool_ and set(flags.tolist()) == {False, True}
    blobs = inputs.random_array(np.object_, [2, 3], np.random.default_rng(0))
    assert blobs.shape == (2, 3) and all(isinstance(b, bytes) and len(b) == inputs.RANDOM_BYTES for b in blobs.flat)


def test_sample_files_should_list_the_images_of_a_folder_in_order(tmp_path):
    for name in ("b.png", "a.jpg", "c.jpeg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [Path(f).name for f in inputs.sample_files(str(tmp_path))] == ["a.jpg", "b.png", "c.jpeg"]
    assert inputs.sample_files(None) == []


def test_a_bytes_tensor_should_repeat_one_blob_in_every_element():
    t = inputs.bytes_tensor(b"png", [2, 1])
    assert t.dtype == np.object_ and t.tolist() == [[b"png"], [b"png"]]


def test_the_config_parameter_should_carry_the_values_back_to_a_client():
    text = inputs.values_parameter({"ids": (0, 5), "scale": (0.5, 1.5)})
    config = {"parameters": {inputs.VALUES_PARAMETER: {"string_value": text}}}
    assert inputs.config_values(config) == {"ids": (0, 5), "scale": (0.5, 1.5)}


@pytest.mark.parametrize("parameters", [{}, {inputs.VALUES_PARAMETER: {"string_value": "not json"}},
                                        {inputs.VALUES_PARAMETER: {"string_value": '{"ids": 3}'}}])
def test_a_config_without_a_readable_parameter_should_give_no_values(parameters):
    assert inputs.config_values({"parameters": parameters}) == {}


# ------------------------------------------------------------------------------ layering
def test_wire_modules_should_import_only_numpy_the_stdlib_and_each_other():
    stdlib = set(sys.stdlib_module_names)
    foreign = []
    for path in sorted(WIRE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top != "numpy" and not name.startswith("tritonctl.wire"):
                    foreign.append(f"{path.name}: {name}")
    assert sorted(p.name for p in WIRE.glob("*.py")) == sorted(["__init__.py", *[f"{m}.py" for m in wire_bundle.MODULES]])
    assert foreign == []


# ------------------------------------------------------------------------------ the generated copies
def test_the_generated_copies_should_be_current():
    """`make wire-copies` writes them; loadtest/ and the chart carry the same text as tools/tritonctl/wire/."""
    assert [p.relative_to(ROOT) for p in wire_bundle.TARGETS] == [Path("loadtest/triton_wire.py"),
                                                                  Path("helm/triton/files/triton_wire.py")]
    assert wire_bundle.stale() == []


def test_the_copy_should_import_without_tritonctl_and_offer_every_wire_name(tmp_path):
    (tmp_path / "triton_wire.py").write_text(wire_bundle.render())
    names = sorted({n for m in wire_bundle.MODULES for n in wire_bundle._defined(ast.parse((WIRE / f"{m}.py").read_text()))})
    code = ("import sys, triton_wire as w; assert 'tritonctl' not in sys.modules; "
            f"missing = [n for n in {names!r} if not hasattr(w, n)]; assert not missing, missing; "
            "print(w.parse_url('https://h').ssl, w.random_array('int64', [50], __import__('numpy').random.default_rng(0), (2, 3)).max())")
    # -I: no site-packages path hooks from the checkout, no PYTHONPATH (tritonctl is not importable there)
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
                          f"sys.path.append({str(Path(np.__file__).parents[1])!r}); " + code],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "2"]


def test_the_bundle_should_refuse_two_modules_defining_one_name(tmp_path):
    (tmp_path / "a.py").write_text("from __future__ import annotations\n\nX = 1\n")
    (tmp_path / "b.py").write_text("from __future__ import annotations\nfrom tritonctl.wire.a import X\n\nX = 2\n")
    with pytest.raises(wire_bundle.BundleError, match="a and b both define 'X'"):
        wire_bundle.render(tmp_path, ("a", "b"))


def test_the_bundle_should_drop_sibling_imports_and_hoist_the_future_import(tmp_path):
    (tmp_path / "a.py").write_text("from __future__ import annotations\n\nX = 1\n")
    (tmp_path / "b.py").write_text("from __future__ import annotations\n\nfrom tritonctl.wire.a import X\n\nY = X + 1\n")
    text = wire_bundle.render(tmp_path, ("a", "b"))
    namespace: dict = {}
    exec(compile(text, "triton_wire.py", "exec"), namespace)
    assert namespace["Y"] == 2 and "tritonctl.wire" not in text.split('"""', 2)[2]
    assert text.count("from __future__ import annotations") == 1
