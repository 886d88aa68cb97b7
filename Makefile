# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both make and use a project virtual environment in .venv/: Debian's and Ubuntu's system Python
# refuse `pip install` outside one (PEP 668), and a venv works the same everywhere else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test venv install install-test browser bench

demo: install
	$(PY) -m mlpaint demo

test: install-test browser
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

venv: $(PY)

# A stock Debian lacks the venv module until python3-venv is installed (this needs root, as
# installing chromium for the browser tests does).
$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
		echo "$(PYTHON) -m venv failed; installing Debian's python3-venv"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
		>/dev/null && $(PYTHON) -m venv $(VENV); }
	$(PIP) --upgrade pip

install: $(PY)
	$(PIP) --editable .

install-test: $(PY)
	$(PIP) --editable ".[test]"

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: install-test
	$(PY) bench/import.py
	$(PY) bench/train.py
	$(PY) bench/sql_scoring.py
	$(PY) bench/serve.py
	$(PY) bench/abuse.py
