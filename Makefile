# The two commands of the README: `make run` and `make test`. Both bootstrap .venv from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
# Quiet pip (-qq: errors only): no version nag, no "script not on PATH" notes, no notes about local
# index locations or editable builds; a failed install still prints its error.
PIP    := $(BIN)/python -m pip -qq --disable-pip-version-check --no-input
export PIP_NO_WARN_SCRIPT_LOCATION := 1

.PHONY: run test lint types bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev]"
	touch $@ $(STAMP)

run: $(STAMP)  ## run the built-in quickstart scenario, write results/, print the headline figures
	$(BIN)/swarmsim run

test: $(DEVSTAMP)  ## lint, then the types check, then the whole test suite
	$(BIN)/ruff check swarmsim tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q

lint: $(DEVSTAMP)
	$(BIN)/ruff check swarmsim tests benchmarks

types: $(DEVSTAMP)  ## mypy on swarmsim/ with the [tool.mypy] configuration of pyproject.toml (zero errors)
	$(BIN)/mypy

bench: $(STAMP)  ## the speed and memory figures of docs/performance.md
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) build *.egg-info
