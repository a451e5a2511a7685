SHELL := /bin/bash

# Lantern: `make run` runs a collector (SQLite) + console + an agent on this machine where a display
# exists; `make test` installs what the tests need and runs them all. Both work on a fresh Debian 12
# machine with Python 3.11 (Debian packages are installed when run as root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VAR    := var
GRPC   ?= 127.0.0.1:50051
HTTP   ?= 127.0.0.1:8080

# Debian packages the tests drive for real: X server + window manager + typing, browser, database,
# load balancer for the many-collectors test, dictionary for the detection benchmark, notifications,
# packaging tools for the installers.
DEBIAN_PACKAGES := python3-venv python3-tk xvfb openbox xdotool xterm x11-utils x11-xserver-utils \
	chromium postgresql haproxy wbritish curl libnotify-bin dpkg-dev lintian wixl msitools debootstrap

.PHONY: run test lint typecheck proto system-deps venv bench clean installers

system-deps: $(VENV)/.system-deps
$(VENV)/.system-deps:
	@mkdir -p $(VENV)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages:" $$missing; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		fi; \
	else echo "not root: skipping Debian packages ($(DEBIAN_PACKAGES))"; fi
	@touch $@

venv: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[collector,dev]"
	@touch $@

# Regenerate the wire code from protos/ (committed; tests/test_proto_sync.py checks it is current).
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
		protos/lantern/v1/lantern.proto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check agent collector lantern tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: system-deps $(STAMP) lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.detection.run
	$(BIN)/python -m bench.agent.footprint

# A collector on SQLite under ./var, a console user, and an agent on this machine if it has a display.
run: system-deps $(STAMP)
	@mkdir -p $(VAR)
	@set -e; \
	$(BIN)/lantern-collector serve --grpc $(GRPC) --http $(HTTP) & collector=$$!; \
	trap 'kill $$collector $${agent:-} 2>/dev/null; wait' EXIT INT TERM; \
	for i in $$(seq 50); do curl -fs http://$(HTTP)/healthz >/dev/null 2>&1 && break; sleep 0.2; done; \
	password=$$($(BIN)/python -c "import secrets; print(secrets.token_urlsafe(12))"); \
	if ! $(BIN)/lantern-collector users add --email dsl@college.example --role dsl --password-stdin \
		<<< "$$password" >/dev/null 2>&1; then password="(unchanged: user existed)"; fi; \
	echo "console user: dsl@college.example, password $$password"; \
	token=$$($(BIN)/lantern-collector api-token create --user dsl@college.example | tail -n 1); \
	echo "REST API: curl -H 'Authorization: Bearer $$token' http://$(HTTP)/api/v1/alerts"; \
	echo "API docs: http://$(HTTP)/docs"; \
	if [ -n "$${DISPLAY:-}" ]; then \
		enrol=$$($(BIN)/lantern-collector tokens create --uses 1 --expires 1h | tail -n 1); \
		$(BIN)/lantern-agent --state-dir $(VAR)/agent enrol --collector $(GRPC) --token $$enrol; \
		$(BIN)/lantern-agent --state-dir $(VAR)/agent run & agent=$$!; \
	else echo "no DISPLAY: running the collector only (agents can enrol with 'lantern-collector tokens create')"; fi; \
	wait $$collector

# The agent's .deb and (with a placeholder payload until a Windows runner builds the bundle) MSI.
installers: $(STAMP)
	installers/linux/build-deb.sh --out dist
	installers/windows/build-msi.sh --placeholder --out dist/placeholder

clean:
	rm -rf $(VENV) $(VAR) .pytest_cache .mypy_cache .ruff_cache
