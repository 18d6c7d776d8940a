# Reduced-precision variants measured against FP32 (docs/precision.md). Not part of
# `make test`: about 6 minutes on the 2-core VM. A quicker look:
#   make bench-precision PRECISION_ARGS="--models digits --seconds 2"
PRECISION_ARGS ?=

.PHONY: bench-precision

bench-precision: install ## FP32 vs INT8 dynamic/static vs FP16 for resnet18 and digits, in-process and served -> benchmarks/precision.md (+ .csv)
	$(PY) benchmarks/precision.py $(PRECISION_ARGS)
