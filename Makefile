# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes (pytest-xdist); each has its own server, SQLite file or PostgreSQL database.
PYTEST_WORKERS ?= auto
# make demo PORT=8100: the demo's port (its links follow it).
PORT ?= 8000

.PHONY: demo test system-packages lint typecheck pytest-sqlite pytest-postgres bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Licensor needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "install Debian's python3-venv package"; exit 1; }
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[app]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

## demo: migrate the embedded SQLite database under ./var, add demo data, serve on :8000 (PORT=...)
demo: $(VENV)/.installed
	$(BIN)/licensor demo --host 127.0.0.1 --port $(PORT)

## test: install the Debian packages the tests need (if missing), lint, type-check, and run
## every test on SQLite and on a throwaway PostgreSQL
test: system-packages $(VENV)/.dev-installed lint typecheck pytest-sqlite pytest-postgres

# PostgreSQL, PgBouncer, Redis, Chromium and fonts, Tesseract: apt-get as root or through
# sudo when any is missing, else the one command that installs them (`make demo` needs none).
system-packages:
	@scripts/system-packages.sh

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# axe-core for tests/web/test_accessibility.py: the pinned version from npm, checked.
AXE_JS := $(VENV)/axe-core-$(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' scripts/fetch_axe.py)/axe.min.js
$(AXE_JS): | $(BIN)/python
	$(BIN)/python scripts/fetch_axe.py

pytest-sqlite: $(VENV)/.dev-installed $(AXE_JS) | system-packages
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

pytest-postgres: $(VENV)/.dev-installed $(AXE_JS) | system-packages
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/with-postgres.sh \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## bench: the figures of bench/README.md
bench: $(VENV)/.dev-installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
