# `make up` installs only what running needs; `make test` (and lint, bench) add the
# test and dev extras. Both use one virtualenv (.venv), made on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test lint pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# running: the package and its runtime dependencies only
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# testing and linting: the test and dev extras on top
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

up: $(VENV)/.installed-run
	$(BIN)/slawatch up

test: lint pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check backend probes dashboard tests bench
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	$(BIN)/python bench/backend.py
	$(BIN)/python bench/probe_capacity.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
