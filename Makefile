# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
PYTEST_ARGS ?=
EXAMPLE ?= fraud-mixed

.PHONY: demo demo-loop demo-pictures demo-typed test lint typecheck bench models clean

# uv installs what pip would in ~15 s instead of ~75 s (docs/decisions.md, 2026-12-07); where
# uv cannot be had or fails, pip does the install. PYTHONWARNINGS: setuptools' note on every
# editable pip install ("Editable installation. Please be careful with folders ... with the
# same name as your package"), nothing to act on here.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --quiet 'uv>=0.5' 2>/dev/null && \
	  echo "installing into $(VENV) with uv" && \
	  $(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev]'; } || { \
	  echo "installing into $(VENV) with pip (uv not available or it failed)"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[dev]'; }
	@touch $(STAMP)

demo: $(STAMP)                  ## run the demo pipeline live (ARGS="--max-events 5000" to stop by itself)
	$(BIN)/streaminfer demo $(ARGS)

demo-loop: $(STAMP)             ## the demo's model loop: drift, retrain, gate, shadow, promote (Ctrl-C stops)
	$(BIN)/streaminfer demo --loop $(ARGS)

demo-pictures: $(STAMP)         ## apples and oranges named by a small CNN, live; the light fades (Ctrl-C stops)
	$(BIN)/streaminfer demo --pictures $(ARGS)

demo-typed: $(STAMP)            ## a typed example model live: EXAMPLE=fraud-mixed|text|tokens (Ctrl-C stops)
	$(BIN)/streaminfer demo --example $(EXAMPLE) $(ARGS)

test: $(STAMP)                  ## the whole suite: unit and integration (real broker, Ray, ORT), in 3 processes (PYTEST_ARGS="-n 0": one)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: lint

bench: $(STAMP)                 ## benchmarks/throughput.py; prints JSON
	$(BIN)/python benchmarks/throughput.py $(ARGS)

models: $(STAMP)
	$(BIN)/streaminfer build-models

clean:
	rm -rf $(VENV) models build *.egg-info .pytest_cache .mypy_cache .ruff_cache .demo-loop
