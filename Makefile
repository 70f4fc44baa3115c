# One entry point for everything CI and developers run. Virtual environments are made on first use:
# .venv on the Python that runtime.txt names (what Heroku runs), .venv-oldest on the oldest Python
# pyproject.toml claims, where the suite runs too.
RUNTIME_PY := $(shell sed -n 's/^python-\([0-9]*\.[0-9]*\).*/\1/p' runtime.txt)
OLDEST_PY  := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)"/\1/p' pyproject.toml)
# A Python X.Y on PATH, else one that pyenv installed; empty when there is none.
find_python = $(shell for c in python$(1) $$(pyenv root 2>/dev/null)/versions/$(1)*/bin/python$(1); do \
                "$$c" -c 'import sys' >/dev/null 2>&1 && { command -v "$$c"; break; }; done)
PYTHON        ?= $(call find_python,$(RUNTIME_PY))
PYTHON_OLDEST ?= $(call find_python,$(OLDEST_PY))

VENV := .venv
BIN  := $(VENV)/bin
OLD  := .venv-oldest

.PHONY: demo daemon-demo test test-oldest check lint typecheck pytest format clean soak bench

# What the demo needs: the runtime pins and matplotlib, nothing of the test stack.
$(VENV)/.demo: requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python $(RUNTIME_PY) (runtime.txt) not found: install it (pyenv install $(RUNTIME_PY)) or run make PYTHON=/path/to/python3"; exit 2; }
	$(BIN)/python -c 'import sys; sys.exit(sys.version[:len("$(RUNTIME_PY)")] != "$(RUNTIME_PY)")' 2>/dev/null \
	  || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt 'matplotlib>=3.7'
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# The whole development stack: the queue libraries and web frameworks the tests drive, linters.
$(VENV)/.dev: $(VENV)/.demo
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -e '.[dev]'
	touch $@

$(OLD)/.dev: requirements.txt pyproject.toml
	@test -n "$(PYTHON_OLDEST)" || { echo "Python $(OLDEST_PY) (the oldest pyproject.toml claims) not found: pyenv install $(OLDEST_PY)"; exit 2; }
	$(OLD)/bin/python -c 'import sys; sys.exit(sys.version[:len("$(OLDEST_PY)")] != "$(OLDEST_PY)")' 2>/dev/null \
	  || { rm -rf $(OLD) && $(PYTHON_OLDEST) -m venv $(OLD); }
	$(OLD)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -e '.[dev]'
	touch $@

## demo: the main job on a built-in default: simulate a day of web traffic, print the table, write the plot
demo: $(VENV)/.demo
	mkdir -p out
	$(BIN)/python -m autoscaler simulate --plot out/simulate.png

## daemon-demo: the real daemon on this machine: an RQ backlog in local Redis, a local stand-in Platform API
daemon-demo: $(VENV)/.dev
	$(BIN)/python -m autoscaler.demo

## test: lint, type check, and the whole suite on the runtime.txt Python and on the oldest claimed (what CI runs)
test: lint typecheck pytest test-oldest

check: test

pytest: $(VENV)/.dev
	$(BIN)/python --version
	$(BIN)/pytest

test-oldest: $(OLD)/.dev
	$(OLD)/bin/python --version
	$(OLD)/bin/pytest -p no:cacheprovider

## bench: the daemon's memory, CPU, start-up, API calls and reaction time; the middleware's cost
bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.daemon
	$(BIN)/python -m benchmarks.middleware

## soak: thousands of accelerated ticks against a faulty stand-in API (excluded from `make test`)
soak: $(VENV)/.dev
	$(BIN)/python -m benchmarks.soak --ticks 5000
	$(BIN)/pytest -m slow

lint: $(VENV)/.dev
	$(BIN)/ruff check autoscaler tests examples benchmarks
	$(BIN)/ruff format --check autoscaler tests examples benchmarks

typecheck: $(VENV)/.dev
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff format autoscaler tests examples benchmarks
	$(BIN)/ruff check --fix autoscaler tests examples benchmarks

clean:
	rm -rf $(VENV) $(OLD) .pytest_cache .mypy_cache .ruff_cache
