# Targets users and CI rely on: install, demo, test, lint, bench.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/kodo-provision demo

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check kodo_provision tests

bench: install
	$(BIN)/python -m scripts.bench
	$(BIN)/python -m scripts.bulk_bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
