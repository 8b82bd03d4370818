# Benchmarks (bench/, docs/PERFORMANCE.md). Not part of `make test` (a seconds-long smoke run of the harness
# is, in tests/bench). `make bench` runs every measurement (about 15 minutes, most of it the sustained run);
# `make bench BENCH=core` (or "core ot tokens", ...) runs some; BENCH_ARGS="--seconds 600" etc. are passed on.
BENCH ?= all
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: bench bench-quick

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP) native
	$(PY) -m bench.run $(BENCH) $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP) native
	$(PY) -m bench.run all --quick --out $${TMPDIR:-/tmp}/turnscore-bench-quick
