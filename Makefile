# The two commands of the README, and the steps they share.
# `make up` brings the whole system up; `make test` runs every check CI runs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
# The install is redone when the lock (or the package's own metadata) changes.
STAMP  := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml | cksum | cut -d' ' -f1)
# How the lock is made: every dependency of pyproject.toml, dev extras included, pinned
# with its hashes, for Python 3.11 on every platform.
COMPILE := $(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	--python-version 3.11 --quiet -o $(LOCK)

.PHONY: up test lint typecheck pytest pytest-postgres install lock lock-upgrade demo bench \
	bench-smoke clean browser-deps

up: $(STAMP)
	$(BIN)/workorders up

test: lint typecheck pytest pytest-postgres

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy .

# The browser tests' Chromium and a font with Chinese glyphs, Debian's packages,
# installed when missing (as root; otherwise the browser tests say what is missing).
BROWSER_PACKAGES := chromium fonts-wqy-microhei
browser-deps:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	  else echo "browser tests need: apt-get install $(BROWSER_PACKAGES)"; fi; }

# Every test on SQLite, the embedded default (tests/db runs on PostgreSQL too) ...
pytest: $(STAMP) browser-deps
	$(BIN)/pytest

# ... then, of the layers that touch the database, what runs on PostgreSQL: the API and
# integration tests on a fresh database there (marked `backend`), and the PostgreSQL
# half of the database tests.
pytest-postgres: $(STAMP)
	WORKORDERS_TEST_BACKEND=postgres $(BIN)/pytest -m 'backend or postgres' \
		tests/api tests/integration tests/activities tests/db

demo: $(STAMP)
	$(BIN)/workorders demo --orders 20

# The benchmarks (README, "Benchmarks and fault tests"): each prints its figures and
# exits 1 when it misses its target, so `make -k bench` runs them all.
bench: $(STAMP)
	$(BIN)/python -m bench.lead_time
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.latency
	$(BIN)/python -m bench.boards
	$(BIN)/python -m bench.slots
	$(BIN)/python -m bench.capacity
	$(BIN)/python -m bench.faults

bench-smoke: $(STAMP)
	$(BIN)/pytest -m slow tests/bench

install: $(STAMP)

# The versions CI tested, from the lock (hashes checked), then the package itself.
$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# After changing the dependencies in pyproject.toml: the lock again, keeping every pinned
# version that still fits; `make lock-upgrade` takes the newest that fit instead.
lock: $(STAMP)
	$(COMPILE)

lock-upgrade: $(STAMP)
	$(COMPILE) --upgrade

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
