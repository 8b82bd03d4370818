# turnscore — two commands: `make run` and `make test`. Both set up .venv at the repo root first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000

# Extra test suites (trainer environments, deployment checks) add themselves here from mk/*.mk.
TEST_TARGETS := test-main

.PHONY: venv run test test-main lint fmt bench clean proto

# The gRPC code is generated from the proto when a package is built or installed (editable too), never
# committed: an edit of these reinstalls both packages, which regenerates it.
PROTO_SOURCES := proto/turnscore/v1/turnscore.proto proto/generate.py proto/hatch_build.py client/hatch_build.py

# `native` (mk/native.mk): the compiled core when a Rust toolchain is here, else one warning line.
venv: $(STAMP) native

$(STAMP): pyproject.toml client/pyproject.toml $(PROTO_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e ./client -e '.[dev]'
	touch $(STAMP)

# Regenerate service/turnscore/grpc/_gen and client/turnscore_client/_gen (what an install does) by hand.
proto: $(STAMP)
	$(PY) proto/generate.py

run: venv
	$(VENV)/bin/turnscore serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# When make built the extension, the native tests (tests/native) must run: their skip becomes a failure.
test-main: venv
	TURNSCORE_REQUIRE_NATIVE=$$(test -f $(NATIVE_STAMP) && echo 1 || echo 0) $(PY) -m pytest -q tests

-include mk/*.mk

test: lint $(TEST_TARGETS)

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache
