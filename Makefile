# Quick start: `make install` puts simplequeue, simplequeued and sq-console on PATH (links in
# ~/.local/bin); `make run` starts a broker on 127.0.0.1:8080 (HTTP) and 127.0.0.1:6379 (Redis
# protocol) backed by ./sq-data; `make test` runs the whole suite, `make test-fast` its unit
# tests. Each creates .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
BINDIR ?= $(HOME)/.local/bin
REDIS_ADDR ?= 127.0.0.1:6379
COMMANDS := simplequeue simplequeued sq-console

.PHONY: install uninstall run test test-fast lint bench chaos screenshots clean

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

# Links rather than copies: the venv's scripts keep their interpreter, and an editable
# install means a `git pull` needs no reinstall.
install: $(VENV)/.installed-run
	@mkdir -p $(BINDIR)
	@for c in $(COMMANDS); do ln -sf $(abspath $(VENV))/bin/$$c $(BINDIR)/$$c; done
	@echo "installed $(COMMANDS) in $(BINDIR)"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "$(BINDIR) is not on your PATH: run  export PATH=\"$(BINDIR):\$$PATH\"  (and add it to your shell's profile)";; esac

uninstall:
	@for c in $(COMMANDS); do [ -L $(BINDIR)/$$c ] && rm -f $(BINDIR)/$$c; done; echo "removed the links in $(BINDIR)"

# REDIS_ADDR= (empty) runs without the Redis-protocol listener.
run: $(VENV)/.installed-run
	$(VENV)/bin/simplequeued $(if $(REDIS_ADDR),--redis-addr $(REDIS_ADDR)) $(ARGS)

# The Node clients the end-to-end tests drive (ioredis), pinned by package-lock.json.
NODE_DIR := tests/e2e/node
$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found; install Node.js and npm (the tests drive ioredis)" >&2; exit 2; }
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

test: $(VENV)/.installed-test $(NODE_DIR)/node_modules/.installed
	$(PY) -m pytest $(ARGS)

# The unit tests only (in-process, no daemon, CLI or moto server): under a minute.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks against Redis (tests/bench/); e.g. make bench ARGS="--quick --scenario depth";
# --scenario console measures sq-console idling on 1,000 rows (CPU seconds per minute).
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
