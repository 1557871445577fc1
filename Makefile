# Two commands do everything on a fresh machine:  make run  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test clean-index

# torch is installed first and pinned: 2.13.0 is the CPU wheel kept on this machine; an unpinned torch
# would pull several GB of CUDA packages.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Builds index/ from seeds/ if missing or stale, then serves the chat on http://127.0.0.1:7860
run: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest

clean-index:
	rm -rf index/gen-* index/CURRENT
