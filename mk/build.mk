# Build workflow targets (tritonctl build); included by the main Makefile.
.PHONY: bench-build models-dry-run

models-dry-run: install ## show what `make models` would export and write, change nothing
	$(BIN)/tritonctl build $(SPEC) --repository $(REPO) --dry-run

bench-build: install ## time a cold build of all examples and a no-change rebuild (targets 60 s / 3 s)
	$(PY) benchmarks/bench_build.py
