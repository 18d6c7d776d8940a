"""The one dtype table, checked against the libraries whose names it holds."""

from __future__ import annotations

import pytest
import torch

from tritonctl.wire import dtypes


@pytest.mark.parametrize(
    "make, config_type",
    [  # torch dtype -> Triton's config type (Triton's model_configuration.md datatype table)
        (lambda t: t.float32, "TYPE_FP32"), (lambda t: t.half, "TYPE_FP16"), (lambda t: t.bfloat16, "TYPE_BF16"),
        (lambda t: t.double, "TYPE_FP64"), (lambda t: t.int64, "TYPE_INT64"), (lambda t: t.int32, "TYPE_INT32"),
        (lambda t: t.int16, "TYPE_INT16"), (lambda t: t.int8, "TYPE_INT8"), (lambda t: t.uint8, "TYPE_UINT8"),
        (lambda t: t.bool, "TYPE_BOOL"),
    ],
)
def test_a_torch_tensors_dtype_names_the_models_yaml_type_of_its_triton_type(make, config_type):
    spec_name = dtypes.TORCH_TO_SPEC[str(torch.zeros(1, dtype=make(torch)).dtype)]  # what `tritonctl import` writes
    assert dtypes.SPEC_TO_TRITON[spec_name] == config_type


def test_a_torch_dtype_models_yaml_cannot_declare_is_not_mapped():
    assert str(torch.complex64) not in dtypes.TORCH_TO_SPEC
