# Atlas: `make demo` runs it, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/atlas

.PHONY: install test lint demo audit migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## test: lint, the whole suite against a real PostgreSQL (see README "Testing"), then the policy audit
test: install lint
	$(BIN)/python -m pytest -n 2 --dist loadfile
	$(BIN)/python scripts/audit_fresh_database.py

## lint: ruff over the code, tests and scripts, and mypy over app/ (rules in pyproject.toml)
lint: install
	$(BIN)/ruff check app tests scripts
	$(BIN)/mypy

## demo: a database (configured, local, or a throwaway one in .pgdata/), two seeded orgs, the API on :8000
demo: install
	@DATABASE_URL="$$(scripts/demo_database.sh)" && export DATABASE_URL && \
	$(BIN)/python scripts/demo.py && \
	exec $(BIN)/atlas serve --host 127.0.0.1 --port 8000

## audit: policy audit of DATABASE_URL; exits non-zero on any finding
audit:
	psql "$(DATABASE_URL)" -X -q -v ON_ERROR_STOP=1 -f scripts/audit_policies.sql

## migrate: apply sql/ migrations to DATABASE_URL
migrate: install
	DATABASE_URL="$(DATABASE_URL)" $(BIN)/atlas migrate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
