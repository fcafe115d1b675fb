# Two commands do all the set-up: `make demo` and `make test`.
# Any Python 3.10–3.13: `python3` unless PYTHON names another (make demo PYTHON=python3.12).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint format benchmark clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null || \
	  { echo "deepfeat needs Python >= 3.10; $(PYTHON) is: $$($(PYTHON) --version 2>/dev/null || echo not found). Run: make $(MAKECMDGOALS) PYTHON=python3.X" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/deepfeat demo --out demo_out

test: $(STAMP_TEST)
	$(BIN)/ruff check deepfeat tests scripts
	$(BIN)/ruff format --check deepfeat tests scripts
	$(BIN)/python -m pytest

lint: $(STAMP_TEST)
	$(BIN)/ruff check deepfeat tests scripts

format: $(STAMP_TEST)
	$(BIN)/ruff format deepfeat tests scripts
	$(BIN)/ruff check --fix deepfeat tests scripts

benchmark: $(STAMP_TEST)
	$(BIN)/python scripts/benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache build dist
