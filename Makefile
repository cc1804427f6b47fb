# zhisuan — developer entry points. Quick start: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# The test suite talks to real Slurm, Ray and Kubernetes clients: `dev` plus the engine clients.
EXTRAS ?= dev,engines

.PHONY: demo test lint typecheck format bench services-up services-down clean

$(VENV)/.stamp-$(EXTRAS): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip
	@$(PIP) install --quiet -e '.[$(EXTRAS)]'
	@touch $@

# The demo: a fresh SQLite database under ./var, the demo province loaded, served on :8000.
demo: $(VENV)/.stamp-$(EXTRAS)
	$(VENV)/bin/zhisuan demo --host 127.0.0.1 --port 8000

# The whole suite. Tests needing PostgreSQL, Slurm, Ray or Chromium are skipped (one summary line)
# when those are absent, and fail instead under ZHISUAN_REQUIRE_SERVICES=1.
test: $(VENV)/.stamp-$(EXTRAS)
	$(VENV)/bin/pytest -q

lint: $(VENV)/.stamp-$(EXTRAS)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: $(VENV)/.stamp-$(EXTRAS)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

bench: $(VENV)/.stamp-$(EXTRAS)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

services-up: $(VENV)/.stamp-$(EXTRAS)
	bash scripts/services/services-up

services-down:
	bash scripts/services/services-down

clean:
	rm -rf $(VENV) var build dist src/*.egg-info
