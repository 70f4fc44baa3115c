# One entry point for everything CI and developers run. The venv is made on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo daemon-demo test check lint typecheck format clean soak bench

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -e '.[dev]'
	touch $(STAMP)

## demo: the main job on a built-in default: simulate the default scenario, print the table, write the plot
demo: $(STAMP)
	mkdir -p out
	$(BIN)/python -m autoscaler simulate --plot out/simulate.png

## daemon-demo: the real daemon on this machine: an RQ backlog in local Redis, a local stand-in Platform API
daemon-demo: $(STAMP)
	$(BIN)/python -m autoscaler.demo

## test: lint, type-check and the whole test suite (what CI runs)
test: $(STAMP) lint typecheck
	$(BIN)/pytest

check: test

## bench: the daemon's memory, CPU, start-up, API calls and reaction time; the middleware's cost
bench: $(STAMP)
	$(BIN)/python -m benchmarks.daemon
	$(BIN)/python -m benchmarks.middleware

## soak: thousands of accelerated ticks against a faulty stand-in API (excluded from `make test`)
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak --ticks 5000
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check autoscaler tests examples benchmarks
	$(BIN)/ruff format --check autoscaler tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format autoscaler tests examples benchmarks
	$(BIN)/ruff check --fix autoscaler tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
