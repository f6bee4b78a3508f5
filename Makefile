# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_CORPUS ?= ../shared/data/tinyshakespeare.txt
DEMO_DIR ?= demo-output
DEMO_BUDGET_S ?= 180
PORT ?= 8500
GATEWAY_PORT ?= 8000
TEST_WORKERS ?= 2

.PHONY: install seed demo demo-tune demo-generate test test-cluster check lint format proto clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	touch $@

# Seed the corpus cache from a local copy when one is beside the checkout (offline machines, CI).
seed: install
	@if [ -f $(SHARED_CORPUS) ]; then $(BIN)/charloom data seed $(SHARED_CORPUS); fi

# The main job end to end: tune -> export the best trial -> serve it (batching as in k8s/) ->
# the gateway in front of it -> 300 characters streamed over its OpenAI-compatible HTTP API.
demo: demo-tune demo-generate

demo-tune: install seed
	$(BIN)/charloom tune --corpus shakespeare --space quick --num-samples 4 --time-budget-s $(DEMO_BUDGET_S) \
	    --storage-path $(DEMO_DIR)/ray_results --model-base-path $(DEMO_DIR)/models/charloom

# Serve the demo's model, put the gateway in front of it, stream a text through its HTTP API.
demo-generate: install
	@bash -c 'set -euo pipefail; \
	  $(BIN)/charloom serve --model-base-path $(DEMO_DIR)/models/charloom --port $(PORT) --enable-batching \
	      --batching-parameters-file k8s/base/serving/config/batching.config & server=$$!; \
	  $(BIN)/charloom gateway --target localhost:$(PORT) --host 127.0.0.1 --port $(GATEWAY_PORT) --grpc-port -1 \
	      2>/dev/null & gateway=$$!; \
	  trap "kill $$gateway $$server 2>/dev/null; wait $$gateway $$server 2>/dev/null || true" EXIT; \
	  for i in $$(seq 240); do curl -sf localhost:$(GATEWAY_PORT)/ready >/dev/null && break; sleep 0.5; done; \
	  printf "ROMEO:"; \
	  curl -sN localhost:$(GATEWAY_PORT)/v1/completions -H "Content-Type: application/json" \
	      -d "{\"model\": \"charloom\", \"prompt\": \"ROMEO:\", \"max_tokens\": 300, \"temperature\": 0.8, \"seed\": 0, \"stream\": true}" \
	    | $(BIN)/python -m serving.gateway.sse_text; echo'

# What CI runs: the linter and formatter check first, then every test on two xdist workers, the
# longest first; the tests of a module sharing a module-scoped fixture go to one worker
# (tests/conftest.py orders and groups them).
XDIST := -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
test: install lint
	$(BIN)/python -m pytest $(XDIST) --durations=15 -m "not cluster"

# The tuning cluster as users run it: two Ray nodes on loopback, S3 (moto), a node lost, a driver
# killed and resumed (tests/e2e/test_tune_cluster.py; a few minutes). CI runs it after `make test`.
test-cluster: install
	$(BIN)/python -m pytest -m cluster --durations=5

# The inner loop: lint, then the tests that start no process, take no long training and wait
# no seconds (those are marked slow or e2e).
check: install lint
	$(BIN)/python -m pytest $(XDIST) -m "not e2e and not slow" -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The gateway's gRPC stubs, checked in: run after editing serving/gateway/proto/*.proto.
proto: install
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. \
	    serving/gateway/proto/charloom_gateway.proto

clean:
	rm -rf $(VENV) $(DEMO_DIR)
