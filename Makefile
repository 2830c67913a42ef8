# make demo: system packages, venv, sandbox Asterisk, a 34-contact collections campaign and its report.
# make test: the same set-up, then the whole test suite (real-Asterisk tests included).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := debootstrap python3 python3-venv espeak-ng ffmpeg sox sip-tester mosquitto postgresql kannel kannel-extras chromium prometheus

.PHONY: system venv sandbox demo test down clean

system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/dialer: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/dialer

sandbox: system venv
	$(BIN)/dialer sandbox up

demo: sandbox
	$(BIN)/dialer sandbox demo

test: system venv
	$(BIN)/pytest

down:
	$(BIN)/dialer sandbox down

clean:
	rm -rf $(VENV) .pytest_cache
