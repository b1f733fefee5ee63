# The two set-up commands from the README. Both work on a fresh machine.
PY ?= python3
VENV ?= .venv
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip's own lines, one per package, so a 3-5 minute install on a fresh machine shows progress
PROGRESS = { grep --line-buffered -E '^(Collecting|Building|Successfully installed|ERROR)' || true; } | sed -u -e 's/^/  /' -e 's/Successfully installed.*/  done/'

.PHONY: demo test install

$(VENV)/.installed: pyproject.toml
	@echo "installing tracestrata and its test dependencies into $(VENV) (3-5 minutes on a fresh machine) ..."
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install -e '.[dev]' 2>&1 | $(PROGRESS)
	touch $@

install: $(VENV)/.installed

# Runs the main job end to end on an embedded default.
demo: install
	$(VENV)/bin/tracestrata demo

# Runs the whole test suite (installs R + survey for the cross-check when missing).
test: install
	bash scripts/test.sh
