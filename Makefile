# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint format benchmark clean

$(BIN)/python:
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
	$(BIN)/python scripts/benchmark.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache build dist
