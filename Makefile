# The one entry point: `make dev` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON312 ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12)
TOOLS := .tools
UV := $(TOOLS)/uv/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
# The SAM translator alone (its pydantic cannot share the app's venv): tests/unit/test_route_auth.py runs it.
TRANSLATOR := $(TOOLS)/samtranslator/bin/python
PYTEST_ARGS ?=

.PHONY: help install translator browser dev plutus test unit integration e2e check lint typecheck validate checkov build tools samples catalog soak bench bench-reads capacity clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@test -n "$(PYTHON312)" || { echo "python3.12 not found (pyenv: PYENV_VERSION=3.12.1)"; exit 1; }
	$(PYTHON312) -m venv $(TOOLS)/uv && $(TOOLS)/uv/bin/pip install -q --disable-pip-version-check uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	@# --quiet: a first install would otherwise list every package (over a hundred lines) before the banner.
	$(UV) sync --quiet --locked --python $(PYTHON312)
	@touch $@

install: $(VENV)/.synced ## Install the app and dev dependencies (uv, Python 3.12)

$(TRANSLATOR): | $(UV)
	$(UV) venv -q --python $(PYTHON312) $(TOOLS)/samtranslator && VIRTUAL_ENV=$(TOOLS)/samtranslator $(UV) pip install -q "aws-sam-translator==1.115.0" "pyyaml>=6"

translator: $(TRANSLATOR) ## The SAM translator, in its own venv (the route x AuthMode test transforms the template)

dev: install ## Start an embedded stack with its own emulator (API on :3000 if free); NAME=x for a second one
	@$(if $(NAME),PLUTUS_STACK_NAME=$(NAME) )$(PY) -m plutus_dev.emulator.stack

plutus: install ## Run the operator CLI on the running stack: make plutus ARGS="send payment_completed"
	@# A command that reports a failure (a FAILED event) exits 1; make would add its own "Error 1" line to that.
	@$(VENV)/bin/plutus $(ARGS) || true

browser: ## Headless Chromium for the docs browser test (Debian's package, installed as root when missing)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			-o DPkg::Lock::Timeout=600 chromium; } || echo "chromium is not installed: the browser test is skipped"

test: install browser $(TRANSLATOR) ## Run every test: unit, integration (moto server over HTTP) and e2e (embedded stack)
	$(PY) -m pytest $(PYTEST_ARGS)

unit: install $(TRANSLATOR) ## Unit tests only (no sockets)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: install ## Integration tests only
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e: install browser ## e2e tests; set PLUTUS_API_URL (and STACK) to target a deployed stack
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

.PHONY: test-fast docs docs-serve
# --8<-- [start:test-fast]
# The inner loop: everything not marked `slow` (e2e, fault runs, fuzzing, anything over ~3 s) on two workers.
test-fast: install $(TRANSLATOR) ## Unit + fast integration tests on 2 workers (not `slow`): the loop while you change code
	$(PY) -m pytest tests/unit tests/integration -m "not slow" -n 2 -q $(PYTEST_ARGS)
# --8<-- [end:test-fast]

soak: install ## Fault-injection soak: 10,000 events, 5% AWS faults, 4 consumers; prints lost/doubled figures
	$(PY) -m plutus_dev.faults.run --events $(or $(EVENTS),10000)

samples: install ## Rewrite events/<event_type>.json for every registered type
	$(PY) -m plutus_dev.cli.samples

catalog: install ## Rewrite plutus/domains/catalog.py (which pack registers each type) from the packs
	$(PY) -m plutus_dev.catalog

bench-reads: install ## Adtech decision-read latency (p50/p95/p99) through the real ingest handler and moto
	$(PY) -m bench.decision_read

capacity: install ## Partition heat at 1k/10k/50k events/s from a mixed workload: bench/capacity.json and .png
	$(PY) -m bench.capacity

$(SAM): | $(UV)
	$(UV) venv -q --python $(PYTHON312) $(TOOLS)/sam && VIRTUAL_ENV=$(TOOLS)/sam $(UV) pip install -q aws-sam-cli

$(CHECKOV): | $(UV)
	$(UV) venv -q --python $(PYTHON312) $(TOOLS)/checkov && VIRTUAL_ENV=$(TOOLS)/checkov $(UV) pip install -q checkov

tools: $(SAM) $(CHECKOV) ## Install the SAM CLI and checkov, each in its own venv

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install ## mypy --strict on the plutus package
	$(VENV)/bin/mypy layers/plutus/plutus

docs: install ## Build the docs site into site/ (mkdocs --strict: a broken link or snippet fails)
	@test $$(wc -l < README.md) -le 150 || { echo "README.md is over 150 lines: move the detail to docs/"; exit 1; }
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: install ## Serve the docs site with live reload on http://127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

validate: install $(SAM) ## sam validate --lint and cfn-lint (informational checks included)
	$(SAM) validate --lint --region us-east-1
	# The SAM venv's cfn-lint has the SAM translator, so it lints the transformed template.
	$(TOOLS)/sam/bin/cfn-lint template.yaml --include-checks I
	# The same checks with QueueMode=fifo as the default (FIFO queues, no batching window).
	$(MAKE) -s $(FIFO_TEMPLATE)
	$(SAM) validate --lint --region us-east-1 -t $(FIFO_TEMPLATE)
	$(TOOLS)/sam/bin/cfn-lint $(FIFO_TEMPLATE) --include-checks I

checkov: $(CHECKOV) ## checkov on the template; each skip is justified in the resource's Metadata
	$(CHECKOV) -f template.yaml --framework cloudformation --compact --quiet --skip-download
	$(MAKE) -s $(FIFO_TEMPLATE)
	$(CHECKOV) -f $(FIFO_TEMPLATE) --framework cloudformation --compact --quiet --skip-download

# template.yaml with QueueMode=fifo as its default, for the static checks of the FIFO variant.
FIFO_TEMPLATE := .plutus/template.fifo.yaml
$(FIFO_TEMPLATE): template.yaml
	mkdir -p $(dir $@) && sed '/^  QueueMode:/,/Default:/ s/Default: standard/Default: fifo/' $< > $@

build: $(SAM) ## sam build (makefile build methods: precompiled bytecode)
	PATH="$(dir $(PYTHON312)):$$PATH" $(SAM) build --region us-east-1

bench: install build ## Plutus vs the Powertools reference: prints a table, writes bench/results.json and plot.png
	$(PY) -m bench.run

check: lint typecheck docs validate checkov build ## Every static check CI runs (and the docs build)

clean: ## Remove build output and local state
	rm -rf .aws-sam .plutus .pytest_cache .mypy_cache .ruff_cache site
