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
LINT_PATHS := app.py chalicelib local tests bench infra tools
# Smoke first: under pytest-xdist the longest modules (each starts a local stack) start first.
TEST_PATHS := tests/smoke tests/integration tests/unit
QUICK_TEST_PATHS := tests/unit tests/integration
# pytest-xdist: each worker is its own process with its own in-process emulator, and each smoke
# module its own local stack on free ports. Each test file runs in order on one worker
# (--dist loadfile: a smoke module's tests share its stack and build on each other; the
# loadgroup mode does not group under pytest 9, its nodeid suffix is lost). The tests wait on
# subprocesses and sockets much of the time, so more workers than cores pays off. Files are
# handed out in the order tests/conftest.py gives them (the longest first):
# --no-loadscope-reorder keeps pytest-xdist from reordering them by their number of tests.
TEST_WORKERS ?= 4
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: help venv run test test-quick lint audit clean distclean infra infra-venv bench browser lock package package-check deploy-check deploy

# Infrastructure (infra/): its own virtualenvs, so the app's stays lean and cfn-lint's SAM
# translator can pin its own pydantic. STAGE is a stage of infra/config.json.
STAGE ?= prod
INFRA_VENV := infra/.venv
INFRA_PY := $(INFRA_VENV)/bin/python
INFRA_STAMP := $(INFRA_VENV)/.requirements.stamp
CFN_LINT_VENV := infra/.venv-lint
CFN_LINT_STAMP := $(CFN_LINT_VENV)/.requirements.stamp

help:
	@echo "make venv       create $(VENV) and install requirements-dev.txt (only when requirements change)"
	@echo "make run        the local stack: moto server, chalice local on 127.0.0.1:8000, worker, demo account;"
	@echo "                its state is kept in .local/ across runs (make run ARGS=--fresh starts empty)"
	@echo "make test       the whole pytest suite: $(TEST_PATHS) ($(TEST_WORKERS) workers)"
	@echo "make test-quick unit and integration tests only: $(QUICK_TEST_PATHS)"
	@echo "make lint       ruff check, ruff format --check, mypy chalicelib/domain, bandit, audit"
	@echo "make audit      known vulnerabilities in the pinned and installed dependencies (tools/audit.py)"
	@echo "make bench      every benchmark (ratios measured in one run; see bench/)"
	@echo "make clean      remove caches and test artifacts (keeps $(VENV) and .local/)"
	@echo "make distclean  clean, and remove $(VENV) and .local/ (the local secrets)"
	@echo "make infra      synthesise the AWS stack of STAGE (default prod) offline, cfn-lint it, run tests/infra"
	@echo "make deploy-check STAGE=prod   refuse a deploy that would fail or go unwatched (docs/DEPLOY.md)"
	@echo "make lock       re-resolve requirements.lock (the Lambda's dependencies, hashed) from requirements.txt"
	@echo "make package    build the deployment package; make package-check builds it twice and compares"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	touch $@

# Swagger UI's files for GET /docs: npm's swagger-ui-dist, pinned by version and integrity in
# tools/swagger_ui.py, extracted into chalicelib/openapi/swagger-ui/ (not in git).
SWAGGER_UI := chalicelib/openapi/swagger-ui/INTEGRITY
$(SWAGGER_UI): tools/swagger_ui.py | $(STAMP)
	$(PY) -m tools.swagger_ui

venv: $(STAMP) $(SWAGGER_UI)

# The Lambda's dependencies: requirements.lock is resolved from requirements.txt for the
# Lambda's platform (python3.12, arm64) with every distribution's hash (infra/lambda_package.py).
lock: venv
	$(PY) -m infra.lambda_package lock

# The deployment package as the stack deploys it (infra/.build/deployment.zip); package-check
# builds it twice and fails unless the two are byte for byte the same.
package: venv
	$(PY) -m infra.lambda_package build

package-check: venv
	$(PY) -m infra.lambda_package check

run: venv
	$(PY) -m local.run $(ARGS)

# pytest exits 5 when it collected no test: that fails the target too.
test: venv browser
	$(PY) -m pytest $(PYTEST_PARALLEL) $(TEST_PATHS) $(PYTEST_ARGS)

# The inner loop: no local stack, no browser.
test-quick: venv
	$(PY) -m pytest $(PYTEST_PARALLEL) $(QUICK_TEST_PATHS) $(PYTEST_ARGS)

# The browser tests (tests/smoke/test_reactivation_browser.py) drive Debian's Chromium through
# Playwright (pip package in requirements-dev.txt); Playwright's own browser download is never used.
browser:
	test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: venv
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy chalicelib/domain
	$(PY) -m bandit -q -c pyproject.toml -r app.py chalicelib tools
	$(MAKE) --no-print-directory audit

# pip-audit when PyPI's vulnerability service answers; otherwise the dated offline snapshot.
audit: venv
	$(PY) -m tools.audit

# Benchmarks print ratios measured side by side in one run; figures land in bench/results/.
BENCHES ?= cold_start targeting auto_status sending package_size scale local_stack
bench: venv
	for name in $(BENCHES); do $(PY) -m bench.$$name; done
	$(PY) -m bench.report

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .local $(INFRA_VENV) $(CFN_LINT_VENV) infra/cdk.out infra/.build chalicelib/openapi/swagger-ui

$(INFRA_STAMP): requirements.txt infra/requirements.txt
	test -x $(INFRA_PY) || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_PY) -m pip install --disable-pip-version-check --quiet -r infra/requirements.txt
	touch $@

$(CFN_LINT_STAMP): infra/requirements-lint.txt
	test -x $(CFN_LINT_VENV)/bin/python || $(PYTHON) -m venv $(CFN_LINT_VENV)
	$(CFN_LINT_VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r infra/requirements-lint.txt
	touch $@

infra-venv: $(INFRA_STAMP) $(CFN_LINT_STAMP)

# Before a deploy: refuses placeholders, no alarm subscriber, a concurrency the account cannot
# give, SES in the sandbox for a production stage (the account is read when credentials exist).
CONFIG ?= infra/config.json
deploy-check: infra-venv
	$(INFRA_PY) -m infra.deploy_check $(STAGE) --config $(CONFIG)

# The deploy itself, after the check (docs/DEPLOY.md step 4).
deploy: deploy-check
	cd infra && npx aws-cdk@2 deploy -c stage=$(STAGE)

# Offline: the deploy check in its CI mode (what a deploy would refuse is reported, only what
# no account could deploy fails) and on the filled-in example config (must pass); the Lambda
# package is built (infra/lambda_package.py: wheels from the package index, cached), CDK
# synthesises infra/cdk.out/$(STAGE).template.json, cfn-lint checks it (SAM included), then
# the infrastructure tests. Example values in infra/config.json are allowed here, not in a deploy.
infra: infra-venv
	$(INFRA_PY) -m infra.deploy_check $(STAGE) --ci
	$(INFRA_PY) -m infra.deploy_check prod --config infra/config.example.json --offline
	cd infra && .venv/bin/python main.py -c stage=$(STAGE) -c allow_placeholders=true
	$(CFN_LINT_VENV)/bin/cfn-lint --regions "$$($(INFRA_PY) -m infra.config $(STAGE))" -- infra/cdk.out/$(STAGE).template.json
	$(INFRA_PY) -m pytest tests/infra
