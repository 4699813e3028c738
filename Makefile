# Quick start: `make run` starts a broker on 127.0.0.1:8080 backed by ./sq-data;
# `make test` runs the whole suite, `make test-fast` its unit tests. Both create .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test test-fast lint bench chaos screenshots clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Stamps so the install runs again only when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(VENV)/bin/simplequeued $(ARGS)

test: $(VENV)/.installed-test
	$(PY) -m pytest $(ARGS)

# The unit tests only (in-process, no daemon, CLI or moto server): under a minute.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks against Redis (tests/bench/); e.g. make bench ARGS="--quick --scenario depth".
bench: $(VENV)/.installed-test
	$(PY) -m tests.bench $(ARGS)

# A longer chaos run than make test's (tests/chaos/): brokers SIGKILLed and restarted under
# mixed clients, then storage checked against every answer; e.g. make chaos SECONDS=600.
SECONDS ?= 300
chaos: $(VENV)/.installed-test
	$(PY) -m tests.chaos --seconds $(SECONDS) $(ARGS)

# Starts a real broker with demo data and drives sq-console headless (tests/console/make_screenshots.py).
screenshots: $(VENV)/.installed-test
	$(PY) -m tests.console.make_screenshots screenshots

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
