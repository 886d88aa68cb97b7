# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test install install-test browser lint bench

demo: install
	$(PYTHON) -m mlpaint demo

test: install-test browser
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest

install:
	$(PIP) --editable .

install-test:
	$(PIP) --editable ".[test]"

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: install-test
	$(PYTHON) bench/import.py
	$(PYTHON) bench/train.py
	$(PYTHON) bench/sql_scoring.py
	$(PYTHON) bench/serve.py
