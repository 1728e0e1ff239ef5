# `make up` and `make test` each create their own virtualenv (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test lint pytest bench clean

$(BIN)/slawatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

up: $(BIN)/slawatch
	$(BIN)/slawatch up

test: $(BIN)/slawatch lint pytest

lint: $(BIN)/slawatch
	$(BIN)/ruff check backend probes dashboard tests bench
	$(BIN)/mypy

pytest: $(BIN)/slawatch
	$(BIN)/python -m pytest

bench: $(BIN)/slawatch
	$(BIN)/python bench/backend.py
	$(BIN)/python bench/probe_capacity.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
