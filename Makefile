# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_CORPUS ?= ../shared/data/tinyshakespeare.txt
DEMO_DIR ?= demo-output
PORT ?= 8500

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	touch $@

# Seed the corpus cache from a local copy when one is beside the checkout (offline machines, CI).
seed: install
	@if [ -f $(SHARED_CORPUS) ]; then $(BIN)/charloom data seed $(SHARED_CORPUS); fi

demo: install seed
	$(BIN)/charloom data inspect --corpus shakespeare

test: install seed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR)
