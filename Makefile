# Permesso developer commands. Every target is phony except the venv stamp, so `make test`
# on a fresh machine (CI) builds the virtualenv first and reuses it afterwards.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Re-installs only when a requirements file changes (or the venv is gone).
STAMP := $(VENV)/.requirements.stamp
LINT_PATHS := app.py chalicelib local tests bench
TEST_PATHS := tests/unit tests/integration tests/smoke

.PHONY: help venv run test lint clean distclean

help:
	@echo "make venv       create $(VENV) and install requirements-dev.txt (only when requirements change)"
	@echo "make run        the local stack: moto server, chalice local on 127.0.0.1:8000, worker, demo account"
	@echo "make test       the whole pytest suite: $(TEST_PATHS)"
	@echo "make lint       ruff check, ruff format --check, mypy chalicelib/domain"
	@echo "make clean      remove caches and test artifacts (keeps $(VENV) and .local/)"
	@echo "make distclean  clean, and remove $(VENV) and .local/ (the local secrets)"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

run: venv
	$(PY) -m local.run

# pytest exits 5 when it collected no test: that fails the target too.
test: venv
	$(PY) -m pytest $(TEST_PATHS)

lint: venv
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy chalicelib/domain

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .local
