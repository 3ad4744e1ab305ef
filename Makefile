# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test setup venv lint lock clean tools up down bench

demo: setup
	$(BIN)/epifeeds demo

# The platform on the clock without Docker: the live simulator, then Airflow's scheduler, dag-processor,
# triggerer and api-server as local processes (pid files and logs in var/up/); `make down` stops them.
UP_STATE := $(or $(EPIFEEDS_HOME),$(CURDIR))/var/up
up: setup
	$(BIN)/epifeeds sim live --background --state-dir $(UP_STATE) --dir $(UP_STATE)/sim --port 8765 --token demo-token
	EPIFEEDS_FILE_DROP_URL=$(UP_STATE)/sim/live/file_drop EPIFEEDS_DISTRICT_API_URL=http://127.0.0.1:8765 \
	  EPIFEEDS_DISTRICT_API_TOKEN=demo-token $(BIN)/epifeeds up

down: venv
	$(BIN)/epifeeds down

test: tools setup lint
	$(BIN)/pytest

# Every benchmark side by side with its baseline; JSON in benchmarks/results/, table in docs/performance.md.
# `make bench BENCH_ARGS=--quick` for the short run.
bench: setup
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# System tools the tests drive that pip cannot install (Debian packages of the same names; .ci/run
# installs them). Missing ones are named in one line, with the command that installs them.
SYSTEM_TOOLS := docker-compose chromium

tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then echo "make test needs:$$missing (Debian: apt-get install -y$$missing)"; exit 1; fi

setup: venv
	$(BIN)/epifeeds setup

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml simulator/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e . -e simulator
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests dbt_project/macros

# Re-resolve the lock from pyproject.toml's ranges (needs the package registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet ".[dev]"
	{ echo "# Exact versions of every Python dependency, tested together on Python 3.11 (regenerate: make lock)."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel|epifeeds)[= ]'; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .airflow var dbt_project/target dbt_project/logs
