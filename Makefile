# Two commands matter on a fresh machine: `make run` (a simulated sorting trial) and
# `make test`. Both set up .venv first when anything is missing (tools/setup.sh is a no-op
# when its inputs are unchanged).
PY := .venv/bin/python
SORTER := .venv/bin/sorter
TRIAL_ARGS ?=

.PHONY: setup run test lint bench clean

setup:
	bash tools/setup.sh

run: setup
	$(SORTER) trial $(TRIAL_ARGS)

test: setup
	$(PY) -m ruff check src tests launch tools
	$(PY) -m mypy
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check src tests launch tools
	$(PY) -m mypy

bench: setup
	$(SORTER) bench

clean:
	rm -rf build .venv results
