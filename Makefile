# Two commands on a fresh machine: `make book` builds the website, `make test` runs every test.
# Both create .venv and install everything first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600

.PHONY: install book test test-unit test-notebooks test-site lab profile execute data-card clean

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

install: $(STAMP)

book: $(STAMP)
	$(BIN)/python tools/build_site.py --execute

test: test-unit test-notebooks test-site

test-unit: $(STAMP)
	$(PYTEST) -n 2 tests companion

test-notebooks: $(STAMP)
	$(PYTEST) -n 2 --dist loadfile $(NBVAL) book

test-site: $(STAMP)
	$(BIN)/python tools/build_site.py

lab: $(STAMP)
	$(BIN)/jupyter lab book/index.md

profile: $(STAMP)
	$(BIN)/python -m companion.profiling

execute: $(STAMP)
	$(BIN)/python -m companion.profiling --write

data-card: $(STAMP)
	$(BIN)/python -m companion.cards

clean:
	rm -rf _build
