# turnscore — two commands: `make run` and `make test`. Both set up .venv at the repo root first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000

# Extra test suites (trainer environments, deployment checks) add themselves here from mk/*.mk.
TEST_TARGETS := test-main

.PHONY: venv run test test-main lint fmt bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml client/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e ./client -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/turnscore serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-main: $(STAMP)
	$(PY) -m pytest -q tests

-include mk/*.mk

test: lint $(TEST_TARGETS)

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache
