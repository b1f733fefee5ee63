# The two set-up commands from the README. Both work on a fresh machine.
PY ?= python3
VENV ?= .venv
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip's own lines, one per package, so a 3-5 minute install on a fresh machine shows progress
PROGRESS = { grep --line-buffered -E '^(Collecting|Building|Successfully installed|ERROR)' || true; } | sed -u -e 's/^/  /' -e 's/Successfully installed.*/  done/'

.PHONY: demo test install

# Two stamps: `make demo` installs only what the demo needs (the core, httpx and a local Phoenix server:
# about 1 GB, 2-4 minutes on a fresh machine); `make test` installs the dev extra on top (Spark, DuckDB,
# Langfuse's SDK, the test tools: about 1.9 GB, 3-5 minutes). The dev stamp implies the demo one.
$(VENV)/bin/python:
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	@echo "installing tracestrata and a local Phoenix server into $(VENV) (about 1 GB, 2-4 minutes on a fresh machine) ..."
	$(VENV)/bin/pip install -e '.[demo]' 2>&1 | $(PROGRESS)
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	@echo "installing tracestrata and its test dependencies into $(VENV) (about 1.9 GB, 3-5 minutes on a fresh machine) ..."
	$(VENV)/bin/pip install -e '.[dev]' 2>&1 | $(PROGRESS)
	touch $@ $(VENV)/.installed-demo

install: $(VENV)/.installed-dev

# Runs the main job end to end on an embedded default.
demo: $(VENV)/.installed-demo
	$(VENV)/bin/tracestrata demo

# Runs the whole test suite (installs R + survey for the cross-check when missing).
test: $(VENV)/.installed-dev
	bash scripts/test.sh
