# Two commands do everything on a fresh machine:  make run  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := $(VENV)/.torch-stamp
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup run test chromium clean-index

# torch is installed first and pinned: 2.13.0 is the CPU wheel kept on this machine; an unpinned torch
# would pull several GB of CUDA packages.
$(TORCH):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	touch $(TORCH)

# Serving needs the package and MCP only; the test extra (Ray, playwright, hypothesis...) is for `make test`.
$(RUN_STAMP): pyproject.toml $(TORCH)
	$(PY) -m pip install --quiet -e '.[mcp]'
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

setup: $(RUN_STAMP)

# Builds index/ from seeds/ if missing or stale, then serves the chat on http://127.0.0.1:7860
run: $(RUN_STAMP)
	$(PY) app.py

# tests/test_browser.py drives Debian's chromium through playwright (never a downloaded browser): install it
# where we can (root with apt-get, as on CI); elsewhere the browser tests are skipped, saying why.
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "note: $(CHROMIUM) is missing and cannot be installed here: the browser tests will be skipped"; fi

test: $(TEST_STAMP) chromium
	$(PY) -m pytest

clean-index:
	rm -rf index/gen-* index/CURRENT
