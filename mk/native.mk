# The compiled hot path (native/, Rust + PyO3, built by maturin; native/README.md).
#
# `make venv` (and so `make run` / `make test`) builds the extension `turnscore_native` and installs it into
# .venv when a Rust toolchain (cargo) and Debian's packaged crates (librust-pyo3-dev, librust-serde-json-dev,
# librust-memchr-dev in /usr/share/cargo/registry; crates.io is not used, native/.cargo/config.toml) are
# present. Otherwise it prints ONE warning line and goes on: the service then runs on the pure-Python core
# (same results).
# Rebuilt only when native/ changes (a stamp over its sources). A build that starts and fails is an error.
#
# The trainer environments (.venv-trainers, .venv-verl) do not get the extension: they test the trainer
# integrations, whose numbers are the same on both cores (tests/native checks that in the main suite).
NATIVE_DIR := native
NATIVE_SOURCES := $(wildcard $(NATIVE_DIR)/src/*.rs $(NATIVE_DIR)/src/*/*.rs) $(NATIVE_DIR)/Cargo.toml $(NATIVE_DIR)/Cargo.lock \
	$(NATIVE_DIR)/pyproject.toml $(NATIVE_DIR)/.cargo/config.toml
NATIVE_STAMP := $(VENV)/.native-installed
# Debian's crate directory (what native/.cargo/config.toml points cargo at)
CRATE_DIR ?= /usr/share/cargo/registry
NATIVE_CRATES := pyo3-0.17 serde_json-1. memchr-2.
NATIVE_APT := librust-pyo3-dev librust-serde-json-dev librust-memchr-dev
CARGO ?= cargo

.PHONY: native native-deps native-clean

# Is everything the build needs here? Prints nothing when it is, else the reason (one line).
define native_missing
if ! command -v $(CARGO) >/dev/null 2>&1; then echo "no Rust toolchain (cargo) on PATH"; \
else for c in $(NATIVE_CRATES); do ls -d $(CRATE_DIR)/$$c* >/dev/null 2>&1 \
  || { echo "Debian's Rust crates are missing ($(CRATE_DIR)/$$c*: apt-get install $(NATIVE_APT))"; break; }; done; fi
endef

# Debian's crates when cargo is here, they are not, and we may install packages (root, apt-get). Never
# fails: without them `native` warns and the Python core runs.
native-deps:
	@if command -v $(CARGO) >/dev/null 2>&1 && [ -n "$$($(native_missing))" ] \
	  && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's Rust crates: $(NATIVE_APT)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(NATIVE_APT) >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null 2>&1; \
	       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(NATIVE_APT) >/dev/null 2>&1; } \
	  || echo "warning: apt-get could not install $(NATIVE_APT)"; \
	fi

native: $(STAMP) native-deps
	@why="$$($(native_missing))"; \
	if [ -n "$$why" ]; then \
	  echo "warning: turnscore_native not built ($$why): turnscore runs on the pure-Python core (native/README.md)"; \
	elif ! $(MAKE) --no-print-directory -q $(NATIVE_STAMP); then $(MAKE) --no-print-directory $(NATIVE_STAMP); fi

# maturin (from PyPI, in pip's isolated build environment) runs cargo in native/ (offline, Debian's crates);
# the cargo target directory native/target stays, so a rebuild is incremental.
$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES)
	$(PY) -m pip install -q --force-reinstall --no-deps ./$(NATIVE_DIR)
	$(PY) -c "import turnscore_native"
	touch $@

native-clean:
	rm -rf $(NATIVE_DIR)/target $(NATIVE_STAMP)
	-$(PY) -m pip uninstall -q -y turnscore-native
