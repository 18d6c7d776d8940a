# tritonctl in a project of yours that already has its own torch. pyproject.toml claims
# torch>=2.6,<2.16; the oldest and the newest release of that range get a venv each, the way a user
# gets one: their torch first (PyPI's build, CUDA libraries included, from uv's shared cache), then
# tritonctl with the extras a model builder uses, which must leave that torch as it was.
# tests/install/test_torch_bounds.py builds every example and the README's model in each.
TORCH_BOUNDS := 2.6.0 2.15.0
TORCH_BOUND_VENVS := $(foreach v,$(TORCH_BOUNDS),.venv-torch-$(v))

.PHONY: torch-bounds-install

torch-bounds-install: $(addsuffix /.installed,$(TORCH_BOUND_VENVS)) ## venvs .venv-torch-{2.6.0,2.15.0}: tritonctl installed beside the oldest and newest torch it supports

test: torch-bounds-install

# tritonctl editable, so that the tests run the checkout's code; no torch on its line: the resolver
# must keep the one installed before it.
.venv-torch-%/.installed: pyproject.toml mk/install.mk | $(UV)
	rm -rf .venv-torch-$*
	$(PYTHON) -m venv .venv-torch-$*
	$(TORCH_INSTALL) .venv-torch-$*/bin/python torch==$*
	$(UV) pip install -q --python .venv-torch-$*/bin/python -e '.[serve,examples]'
	touch $@
