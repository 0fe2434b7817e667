# Two entry points: `make demo` runs groupsync on the shipped demo data and
# `make test` runs the test suite. Both build .venv/ first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint audit bench-emulator clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/python examples/demo.py

test: venv
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check groupsync tests bench examples
	$(BIN)/ruff format --check groupsync tests bench examples
	$(BIN)/mypy

audit: venv
	$(BIN)/pip-audit --skip-editable --progress-spinner off $(AUDIT_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
