# `tritonctl import` of TorchServe's built-in vision handlers (image_classifier, image_segmenter,
# object_detector) needs torchvision, and PyPI's torchvision does not import beside .venv's CPU
# torch 2.13. .venv-vision holds the pair whose PyPI wheels import together: on x86_64 torch
# 2.14.1 + torchvision 0.29.1 (a CUDA build, about 5.5 GB, that runs on the CPU), on aarch64
# torch 2.9.1 + torchvision 0.24.1 (a CPU build); with tritonctl (editable), Triton and TorchServe.
VISION_VENV ?= .venv-vision
VISION_PY := $(VISION_VENV)/bin/python
VISION_PIN := $(if $(filter aarch64,$(shell uname -m)),torch==2.9.1 torchvision==0.24.1,torch==2.14.1 torchvision==0.29.1)

.PHONY: vision-install

vision-install: $(VISION_VENV)/.installed ## venv .venv-vision: tritonctl + TorchServe with torch and torchvision, for importing vision archives

test: $(VISION_VENV)/.installed

$(VISION_VENV)/.installed: pyproject.toml mk/importer.mk | $(UV)
	@mk/ensure-debian-packages.sh java openjdk-17-jre-headless  # TorchServe's frontend needs Java 11+
	test -x $(VISION_PY) || $(PYTHON) -m venv $(VISION_VENV)
	$(VISION_PY) -m pip install -q --upgrade pip
	$(TORCH_INSTALL) $(VISION_PY) $(VISION_PIN)
	$(VISION_PY) -m pip install -q -e '.[serve,torchserve]' torch-model-archiver==0.12.0 $(VISION_PIN)
	touch $@
