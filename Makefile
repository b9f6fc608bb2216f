# telecenter: the two commands a new machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_STAMP_DIR := $(VENV)/.apt

.PHONY: install run test lint format peers clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/telecenter serve --demo

# System peers the tests talk to (dcmtk, coturn, chromium): Debian packages, installed here.
peers:
	./scripts/install-peers.sh

test: install peers
	# Bytecode is written (PYTHONDONTWRITEBYTECODE cleared): the servers the tests start import
	# the project again and again, and pytest keeps its rewritten test modules.
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n auto --dist worksteal

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
