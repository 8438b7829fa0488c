# Whistle — the two commands of the Quick start, and the checks CI runs.
#   make run    the whole stack on the embedded default (SQLite file + embedded Redis)
#   make test   create .venv, install, run the test suite (SQLite + embedded Redis)

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done 2>/dev/null)
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-postgres lint format bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3 --version)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/whistle up --demo --simulate --rate 120 --pace 60

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

# The same suite on PostgreSQL (a throwaway database is made on this server and dropped).
test-postgres: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} \
		$(BIN)/python -m pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict engine api workers bench

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.lifecycle --all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
