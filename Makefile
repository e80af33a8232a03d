# ticktape: two commands do everything: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# setuptools' "Editable installation ... folders with the same name as your package" notice
# comes with every editable install of a flat layout (a warning, pip shows it even with -q);
# this filter hides that one notice only: pip's own warnings and every error still show.
# (editable_mode=compat would trade it for a deprecation warning, strict for another notice.)
EDITABLE_NOTICE := PYTHONWARNINGS="$${PYTHONWARNINGS:+$$PYTHONWARNINGS,}ignore:Editable installation:UserWarning"

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# Reinstall only when the project definition changes: fast and idempotent.
$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(EDITABLE_NOTICE) $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/python -m tools.demo

test: setup
	@tools/ci/system-deps.sh
	$(BIN)/ruff check recorder state replay query tools tests
	$(BIN)/lint-imports --no-cache --no-logo  # the layer contracts of pyproject.toml [tool.importlinter]
	timeout -k 60 3000 $(BIN)/python -m pytest -q  # a hang ends the run (with stacks), not CI's 90 min

lint: setup
	$(BIN)/ruff check recorder state replay query tools tests
	$(BIN)/lint-imports --no-cache --no-logo

bench: setup
	$(BIN)/python tools/bench/journal.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
