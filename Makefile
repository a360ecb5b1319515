# ForgeML developer entry points. `make up` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
LINT_PATHS := src tests $(wildcard bench examples)
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=40
HOST ?= 127.0.0.1
PORT ?= 8080

.DEFAULT_GOAL := help
.PHONY: help up test check lint format typecheck bench benchdeps sysdeps browserdeps assets clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[s3,demo]'
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev,s3,ray]' 'torch==2.13.0' 'scikit-learn>=1.3'
	touch $@ $(VENV)/.stamp-run

sysdeps: ## Install system packages: bubblewrap (the sandbox), nginx (the replica tests' load balancer)
	@if command -v bwrap >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	else echo "warning: bubblewrap missing and cannot be installed here; jobs run unsandboxed (sandbox=auto)"; fi
	@if [ -x /usr/sbin/nginx ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; \
	  if command -v service >/dev/null; then service nginx stop >/dev/null 2>&1 || true; fi; \
	else echo "warning: nginx missing and cannot be installed here; the replica tests are skipped"; fi

browserdeps: ## Install Chromium for the browser tests (tests/browser), where apt and root allow
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "warning: chromium missing and cannot be installed here; browser tests are skipped"; fi

# Portal browser libraries (charts) come from npm, pinned by package-lock.json, copied to an ignored folder.
VENDOR := src/forgeml/web/static/vendor
$(VENDOR)/.stamp-assets: package.json package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && mkdir -p $(VENDOR) && \
	  cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/ && \
	  cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/ && \
	  touch $@; \
	else echo "warning: npm missing; portal charts fall back to tables, /api/v1/docs asks for assets"; fi

assets: $(VENDOR)/.stamp-assets ## Install the portal's browser libraries (npm ci) into static/vendor

up: $(VENV)/.stamp-run sysdeps assets ## Create the venv, install, run `forgeml up` (API + portal + workers)
	$(BIN)/forgeml up --host $(HOST) --port $(PORT)

test: $(VENV)/.stamp-dev sysdeps browserdeps assets ## Create the dev venv and run every test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.stamp-dev ## ruff lint + format check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(VENV)/.stamp-dev ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

typecheck: $(VENV)/.stamp-dev ## mypy --strict on src/
	$(BIN)/mypy

check: lint typecheck test ## Everything CI runs

benchdeps: ## Install wrk (the HTTP load generator bench/api.py uses), where apt and root allow
	@if command -v wrk >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	else echo "warning: wrk missing and cannot be installed here; bench/api.py will stop"; fi

bench: $(VENV)/.stamp-dev benchdeps ## Run the benchmarks (JSON + table; short runs, see bench/)
	@for b in $(wildcard bench/*.py); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
