# verl plugin test environment: .venv-verl with the real verl 0.9.1 (CPU torch, no GPU, no model download).
# `make test` runs it (TEST_TARGETS); `make venv-verl` only builds it. Idempotent: a stamp file, rebuilt
# when the pins, the package metadata or the proto change (the editable installs regenerate its code).
VERL_VENV := .venv-verl
VERL_PY := $(VERL_VENV)/bin/python
VERL_STAMP := $(VERL_VENV)/.installed
VERL_VERSION := 0.9.1
VERL_REQS := client/tests_verl/requirements.txt

TEST_TARGETS += test-verl

.PHONY: venv-verl test-verl

venv-verl: $(VERL_STAMP)

$(VERL_STAMP): $(VERL_REQS) client/pyproject.toml pyproject.toml mk/verl.mk $(PROTO_SOURCES)
	@start=$$(date +%s); \
	set -e; \
	test -x $(VERL_PY) || $(PYTHON) -m venv $(VERL_VENV); \
	$(VERL_PY) -m pip install -q -U pip; \
	$(VERL_PY) -m pip install -q --no-deps verl==$(VERL_VERSION); \
	$(VERL_PY) -m pip install -q -r $(VERL_REQS); \
	$(VERL_PY) -m pip install -q torch==2.13.0 -e . ; \
	$(VERL_PY) -m pip install -q --no-deps -e ./client; \
	echo "verl env built in $$(( $$(date +%s) - start ))s"
	touch $@

test-verl: $(VERL_STAMP)
	$(VERL_PY) -m turnscore_client.verl check
	cd client/tests_verl && ../../$(VERL_PY) -m pytest -q -p no:cacheprovider .
