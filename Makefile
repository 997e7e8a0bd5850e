# Two commands on a fresh machine: `make book` builds the website, `make test` runs every test.
# Both create .venv and install everything first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# MathJax 3 from npm, served by the website itself (tools/offline_mathjax.py; not committed)
MATHJAX := $(VENV)/.mathjax-installed
# the Jupyter kernel every chapter names, with the book's pinned CPU dispatch (companion/cpu_dispatch.py)
KERNEL := $(VENV)/share/jupyter/kernels/word-embeddings-book/kernel.json
# Debian's Chromium for the browser tests (tests/browser/); never Playwright's own download
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PYTEST := $(BIN)/python -m pytest
# nbval starts the kernel each chapter names (word-embeddings-book), with its pinned environment
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600

.PHONY: install book book-execute test test-unit test-notebooks test-site test-browser lab profile bench leaderboard execute data-card figures clean

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

$(MATHJAX): tools/offline_mathjax.py | $(STAMP)
	$(BIN)/python tools/offline_mathjax.py
	touch $@

$(KERNEL): companion/cpu_dispatch.py companion/kernel.py | $(STAMP)
	$(BIN)/python -m companion.kernel --install

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

install: $(STAMP) $(KERNEL) $(MATHJAX)

# the website from the stored outputs (the ones `make test` proves equal to a fresh run)
book: install
	$(BIN)/python tools/build_site.py

# the website from a fresh run of every changed chapter (jupyter-cache, in the book's kernel)
book-execute: install
	$(BIN)/python tools/build_site.py --execute

test: test-unit test-notebooks test-site test-browser

test-unit: $(STAMP) $(KERNEL)
	$(PYTEST) -n 2 --dist loadfile tests --ignore=tests/browser companion tools

test-notebooks: $(STAMP) $(KERNEL)
	$(PYTEST) -n 2 --dist loadfile $(NBVAL) book

test-site: install
	$(BIN)/python tools/build_site.py

# the built site in Chromium: every page, link, search, math, figures, launch buttons
test-browser: test-site $(CHROMIUM)
	COMPANION_REQUIRE_BROWSER=1 $(PYTEST) tests/browser

lab: $(STAMP) $(KERNEL)
	$(BIN)/jupyter lab book/index.md

profile: $(STAMP) $(KERNEL)
	$(BIN)/python -m companion.profiling --fresh-cache

# from-scratch trainers against their library twins, and every model the book trains against its baseline on
# held-out data (reports/bench-word2vec.* and reports/tiny-models.*; a benchmark, not a timed test)
bench: $(STAMP) $(KERNEL)
	$(BIN)/python -m companion.bench all

# every embedding model of the book on the offline mini-MTEB (reports/leaderboard.json and .md),
# Gemma's mean-pooled hidden states included (several CPU minutes: too slow for the chapter)
leaderboard: $(STAMP) $(KERNEL)
	$(BIN)/python -m companion.leaderboard --all

execute: $(STAMP) $(KERNEL)
	$(BIN)/python -m companion.profiling --write

data-card: $(STAMP)
	$(BIN)/python -m companion.cards

# the architecture figures of the chapters, from companion/diagrams.py (tests/test_diagrams.py checks them)
figures: $(STAMP)
	$(BIN)/python -m companion.diagrams --write book/figures

clean:
	rm -rf _build
