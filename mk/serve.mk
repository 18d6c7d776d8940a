# Local serving targets (tritonctl serve); included by the main Makefile.
# e.g. make serve SERVE_ARGS="--model-control-mode poll --http-port 9000"
SERVE_ARGS ?=
DEMO_ARGS ?=

.PHONY: serve serve-detach stop demo

serve: models ## serve model_repository/ with a real local Triton on CPU (foreground; Ctrl-C stops it cleanly)
	$(BIN)/tritonctl serve $(REPO) $(SERVE_ARGS)

serve-detach: models ## the same in the background (pid file in .tritonctl/); `make stop` ends it
	$(BIN)/tritonctl serve $(REPO) --detach $(SERVE_ARGS)

stop: ## stop the server `make serve-detach` started (and every backend stub)
	$(BIN)/tritonctl stop

demo: models ## fresh machine to answers: serve, a digit image over gRPC and HTTP, a short Locust load, summary, stop
	$(PY) -m tritonctl.demo --repository $(REPO) $(DEMO_ARGS)
