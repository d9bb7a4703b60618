# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench validate clean deps browser node postgres

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

deps: $(STAMP)

## run the sample daily report on the embedded default (no Azure needed)
run: deps
	$(PY) -m shared run storm-daily-report

validate: deps
	$(PY) -m shared validate flows

## Azurite (npm) for the storage tests, Adaptive Cards for the Teams card tests:
## installed again whenever package-lock.json changes
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

## Debian Chromium for the page and e-mail screenshot tests
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium'" >&2; exit 1; fi; }

## Debian's PostgreSQL for the SQL tests (they start their own server in a temporary
## folder), and libltdl7, which Microsoft's mssql-python driver loads (Azure SQL tests)
postgres:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && /sbin/ldconfig -p | grep -q 'libltdl.so.7'; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql libltdl7 >/dev/null; \
	  else echo "postgresql missing: run 'sudo apt-get install postgresql libltdl7'" >&2; exit 1; fi; }

test: deps node browser postgres
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

bench: deps
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules outbox .state
