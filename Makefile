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

# The compiled core (core/, Rust) is built by cargo through maturin, the build backend:
# rustup's cargo is on PATH here even where the shell's profile was not read (CI).
export PATH := $(HOME)/.cargo/bin:$(PATH)
CORE_SOURCES := $(shell find core -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' | grep -v '/target/')
CARGO := cargo
CORE := --manifest-path core/Cargo.toml

.PHONY: setup core demo test test-core lint bench clean

setup: $(STAMP)

# Reinstall only when the project definition or the core's sources change: `pip install -e`
# builds the extension module ticktape_core (release profile) and links the Python
# packages in place, so a Python change needs nothing and a Rust change is `make core`
# (which `make setup`, `make test` and `make demo` also do when a .rs file is newer).
$(STAMP): pyproject.toml $(CORE_SOURCES)
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 1; }
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "need cargo (the Rust toolchain) on PATH: https://rustup.rs"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(EDITABLE_NOTICE) $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

core:
	@rm -f $(STAMP)
	@$(MAKE) --no-print-directory setup

demo: setup
	$(BIN)/python -m tools.demo

test: setup test-core
	@tools/ci/system-deps.sh
	@tools/ci/s3-server.sh >/dev/null  # builds the S3 server of tests/query/test_s3_archive.py once
	@tools/ci/spark-s3-jars.sh >/dev/null  # Spark's s3a:// connector jars for tests/query/test_spark.py, from PyPI once
	$(BIN)/ruff check recorder state replay query tools tests
	$(BIN)/lint-imports --no-cache --no-logo  # the layer contracts of pyproject.toml [tool.importlinter]
	timeout -k 60 3000 $(BIN)/python -m pytest -q  # a hang ends the run (with stacks), not CI's 90 min

# The core's own checks: formatting, clippy's lints as errors, its unit and property tests.
test-core:
	$(CARGO) fmt $(CORE) --all --check
	$(CARGO) clippy $(CORE) --workspace --all-targets -q -- -D warnings
	$(CARGO) test $(CORE) --workspace -q

lint: setup
	$(BIN)/ruff check recorder state replay query tools tests
	$(BIN)/lint-imports --no-cache --no-logo
	$(CARGO) fmt $(CORE) --all --check
	$(CARGO) clippy $(CORE) --workspace --all-targets -q -- -D warnings

bench: setup
	$(BIN)/python tools/bench/journal.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache core/target
