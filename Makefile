# The two set-up commands from the README. Both work on a fresh machine.
PY ?= python3
VENV ?= .venv

.PHONY: demo test install

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Runs the main job end to end on an embedded default.
demo: install
	$(VENV)/bin/tracestrata demo

# Runs the whole test suite (installs R + survey for the cross-check when missing).
test: install
	bash scripts/test.sh
