# Trainer test environment: real OpenRLHF / TRL code (CPU only) driving turnscore-client against the real
# service. The service itself runs from the main .venv (`turnscore serve`) over a real socket, so this
# environment only holds the client and the trainer packages. Idempotent: rebuilt only when a pin or the
# proto changes (the editable install of the client regenerates its gRPC code).
TRAINERS_VENV := .venv-trainers
TRAINERS_PY := $(TRAINERS_VENV)/bin/python
TRAINERS_STAMP := $(TRAINERS_VENV)/.installed
TRAINERS_REQ := client/tests_trainers/requirements.txt
TRAINERS_REQ_NODEPS := client/tests_trainers/requirements-nodeps.txt

TEST_TARGETS += test-trainers

.PHONY: trainers-venv test-trainers

trainers-venv: $(TRAINERS_STAMP)

$(TRAINERS_STAMP): $(TRAINERS_REQ) $(TRAINERS_REQ_NODEPS) client/pyproject.toml $(PROTO_SOURCES)
	test -x $(TRAINERS_PY) || $(PYTHON) -m venv $(TRAINERS_VENV)
	$(TRAINERS_PY) -m pip install -q -U pip
	# torch first and pinned (CPU build); the rest resolves against it.
	$(TRAINERS_PY) -m pip install -q torch==2.13.0
	$(TRAINERS_PY) -m pip install -q -r $(TRAINERS_REQ)
	$(TRAINERS_PY) -m pip install -q --no-deps -r $(TRAINERS_REQ_NODEPS)
	$(TRAINERS_PY) -m pip install -q -e ./client
	touch $@

# The suite lives outside tests/ so the main `pytest tests` run never collects it.
test-trainers: $(STAMP) $(TRAINERS_STAMP)
	TURNSCORE_BIN=$(abspath $(VENV))/bin/turnscore $(TRAINERS_PY) -m pytest -q client/tests_trainers
