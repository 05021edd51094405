# The README's two commands. Each creates its own virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

run: $(VENV)/.run-deps
	$(BIN)/python -m bot

test: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q
	$(BIN)/pytest -q --backend postgresql

bench: $(VENV)/.dev-deps
	$(BIN)/python -m bench.interactions
	$(BIN)/python -m bench.checkins
	$(BIN)/python -m bench.circles
	$(BIN)/python -m bench.pairing
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.cluster

$(VENV)/.venv-created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.run-deps: pyproject.toml $(VENV)/.venv-created
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-deps: pyproject.toml $(VENV)/.venv-created
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-deps

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
