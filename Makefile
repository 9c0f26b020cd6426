# vsguesttruth: `make demo` shows it working on the lab, `make test` runs every test.
# Every target sets up what is missing first; `make setup` is idempotent.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INTEROP := .venv-interop
LAB := lab/bin/vsgt-lab
UI := vsguesttruth/web/ui
UI_BUILT := vsguesttruth/web/static/vsgt.js
GOENV := GOPATH=/usr/share/gocode GO111MODULE=off
DEBIAN_PACKAGES := golang-go golang-github-vmware-govmomi-dev chromium prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup debian test test-unit test-resilience test-interop demo bench soak clean

setup: debian $(VENV)/.installed $(LAB) $(UI_BUILT) $(INTEROP)/.installed

debian:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# the guest agent (guest-agent/) is its own distribution, stdlib + click; the server depends on it
$(VENV)/.installed: setup.cfg setup.py pyproject.toml guest-agent/setup.cfg guest-agent/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# a venv from before the agent had its own distribution: its uninstall would take the agent's script along
	$(BIN)/pip uninstall -q -y vsguesttruth 2>/dev/null || true
	$(BIN)/pip install -q -e ./guest-agent -e '.[test]'
	touch $@

# check_vsphere and Ansible's community.vmware, in a venv of their own (tests/interop)
$(INTEROP)/.installed: tests/interop/requirements.txt
	$(PYTHON) -m venv $(INTEROP)
	$(INTEROP)/bin/pip install -q --upgrade pip
	$(INTEROP)/bin/pip install -q -r tests/interop/requirements.txt
	touch $@

$(LAB): lab/*.go lab/topology.json
	cd lab && $(GOENV) go build -o bin/vsgt-lab .

# the plugin's pages: Clarity, the Swagger UI and esbuild from npm (versions pinned in package-lock.json),
# bundled into vsguesttruth/web/static (not in git; the wheel carries it). No install scripts run.
$(UI_BUILT): $(UI)/package.json $(UI)/package-lock.json $(UI)/build.mjs $(UI)/src/* $(UI)/src/views/* $(UI)/pages/*
	cd $(UI) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node build.mjs

test: setup
	$(BIN)/pytest -q

test-unit: setup
	$(BIN)/pytest -q tests/unit

demo: setup
	$(BIN)/python scripts/demo.py

bench: setup
	$(BIN)/python scripts/bench.py

# third-party clients (check_vsphere, Ansible community.vmware) against the lab
test-interop: setup
	$(BIN)/pytest -q tests/interop

# the reliability suite alone (vCenter faults, load, hostile guests, bad admin input, security)
test-resilience: setup
	$(BIN)/pytest -q tests/resilience

# serve under faults for 10 minutes at 2,000 hosts / 20,000 VMs; prints a table (SOAK_ARGS="--minutes 30 ...")
soak: setup $(VENV)/.soak
	$(BIN)/python scripts/soak.py $(SOAK_ARGS)

# py-spy for the soak's --profile (the `soak` extra)
$(VENV)/.soak: setup.cfg
	$(BIN)/pip install -q -e '.[test,soak]'
	touch $@

clean:
	-$(BIN)/vsguesttruth lab down 2>/dev/null
	rm -rf $(VENV) $(INTEROP) lab/bin *.egg-info build guest-agent/*.egg-info guest-agent/build $(UI)/node_modules vsguesttruth/web/static
