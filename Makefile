# The two commands of the quickstart are `make demo` and `make test`; both set
# up .venv first (once), so they work on a fresh machine.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install install-offline wheelhouse lock demo test test-fast lint schema clean

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

install:  ## .venv from requirements/{cpu,gpu}.lock (hash-checked; once, then only on change)
	@FORGEYARD_VENV=$(VENV) ./scripts/install.sh

install-offline:  ## the same from wheelhouse/{cpu,gpu} only, no index (air-gapped sites)
	@FORGEYARD_VENV=$(VENV) FORGEYARD_WHEELHOUSE=wheelhouse ./scripts/install.sh

wheelhouse:  ## download every wheel of both locks and build the project's into wheelhouse/{cpu,gpu}
	./scripts/wheelhouse.sh cpu gpu

lock:  ## re-resolve requirements/{cpu,gpu}.lock from pyproject.toml (needs uv)
	./scripts/lock.sh

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
