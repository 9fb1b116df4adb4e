# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt

.PHONY: demo test lint typecheck docs clean lock sizes chromium

DEMO_STAMP := $(VENV)/.installed-demo

# `make demo` installs what the demo needs; `make test` adds the test tools to the same venv.
$(DEMO_STAMP): pyproject.toml $(LOCK)
	@echo "make demo: creating $(VENV) and installing clearance with the demo extra (about a minute on a fresh machine)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -c $(LOCK) -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@echo "installing clearance and the test tools into $(VENV) (about a minute on a fresh machine)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -c $(LOCK) -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/clearance demo

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Regenerate the command reference at the end of docs/cli.md from the CLI's own --help.
docs: $(STAMP)
	$(BIN)/python scripts/cli_docs.py

# The browser tests (tests/web) drive Debian's Chromium through Playwright; Playwright's own
# browser download is never used. Installed here when missing (as root, as in CI).
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then echo "chromium: $(CHROMIUM) is installed"; \
	else echo "chromium: $(CHROMIUM) is missing; installing Debian's chromium with apt-get"; \
	  apt-get update && apt-get install -y --no-install-recommends chromium; fi

test: lint typecheck chromium
	$(BIN)/python -m pytest

# Installed size and install time of clearance and of each extra, each in a temporary venv
# (the table in docs/install.md).
sizes: $(STAMP)
	$(BIN)/python scripts/install_sizes.py

# Re-pin the versions `make test` installs, from a fresh resolve of pyproject.toml's ranges.
lock:
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet -e '.[test]'
	{ sed -n '1,3p' $(LOCK); $(VENV)-lock/bin/pip freeze --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf $(VENV)-lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
