# The inspect page's browser tests (tests/ui, part of `make test-main`) drive Debian's `chromium` with
# Playwright's Python package (the `dev` extra) through its executable path; Playwright's own browser
# download is never used. `make browser` installs chromium with apt when it is missing and this is root on a
# Debian/Ubuntu machine; otherwise it says what to run, and tests/ui fail with the same message (they never
# skip). TURNSCORE_TEST_CHROMIUM points the tests at another Chromium.
CHROMIUM ?= $(or $(TURNSCORE_TEST_CHROMIUM),/usr/bin/chromium)

.PHONY: browser test-ui

browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$(CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt) for tests/ui"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
		|| echo "WARNING: apt-get could not install chromium: tests/ui will fail" >&2; \
	else \
		echo "WARNING: no browser at $(CHROMIUM): tests/ui will fail; install it (sudo apt-get install -y chromium)" >&2; \
	fi

test-main: browser

# Only the inspect page's tests (part of `make test-main` already).
test-ui: $(STAMP) browser
	$(PY) -m pytest -q tests/ui
