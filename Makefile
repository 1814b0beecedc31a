# The two commands a newcomer needs: `make run` and `make test`. Each sets up .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: setup run test lint bench mutation mutate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[rl,ray,dev]'
	@touch $(STAMP)

setup: $(STAMP)

## run: set up, then replay the bundled sample through the paper-trading engine and report.
run: $(STAMP)
	$(BIN)/catalyst backtest

## lint: ruff, mypy (strict on domain/ and application/), import-linter.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy domain application adapters entrypoints
	$(BIN)/lint-imports

## test: every check, then the whole test suite.
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: the benchmarks in bench/ (comparisons with peers); results go to var/bench/.
bench: $(STAMP)
	$(BIN)/python -m bench

## mutation: mutation testing of the domain core (not part of `make test`); report in var/mutation/.
##   MUTATION_ARGS="--sample 150 --jobs 2" samples; "--files breaker" picks files (see docs/testing.md).
MUTATION_ARGS ?=
mutation: $(STAMP)
	$(BIN)/python -m bench.mutation $(MUTATION_ARGS)

mutate: mutation

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
