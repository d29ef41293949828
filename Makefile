# The two commands of the quickstart are `make demo` and `make test`; both set
# up .venv first (once), so they work on a fresh machine.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint schema clean

install:
	@./scripts/install.sh

demo: install  ## the logistics booking workflow end to end, on a local model
	$(BIN)/forgeyard demo

test: install  ## the whole test suite (real vLLM, PostgreSQL, SQLite)
	$(BIN)/python -m pytest

test-fast: install  ## unit tests only: no model server
	$(BIN)/python -m pytest -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: install  ## regenerate the checked-in JSON Schema of workflow specs
	$(BIN)/forgeyard workflows schema > workflows/workflow.schema.json

clean:
	rm -rf .forgeyard/runs .forgeyard/forgeyard.db*
