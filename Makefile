# slm-distill: `make demo` runs the bundled example offline, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Built once per machine, outside the clone: llama-cpp-python takes minutes to compile.
SLM_DISTILL_CACHE ?= $(HOME)/.cache/slm-distill
export SLM_DISTILL_CACHE
LLAMA_CPP_VERSION := 0.3.36
TORCH_VERSION := 2.13.0
SDIST_DIR := $(SLM_DISTILL_CACHE)/sdist
# A portable AVX2 build, not -march=native: a native build turns on AMX where the CPU advertises
# it, and sandboxed kernels that refuse AMX then kill quantised (q8_0, q4_*) inference with SIGILL.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
WHEEL_DIR := $(SLM_DISTILL_CACHE)/wheels-avx2
LLAMA_SDIST := $(SDIST_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz
LLAMA_WHEEL_STAMP := $(WHEEL_DIR)/.llama-cpp-python-$(LLAMA_CPP_VERSION)
# check-base: the package installed alone (no extras) into its own venv, run on the bundled example.
BASE_VENV ?= .venv-base
BASE_BIN = $(abspath $(BASE_VENV))/bin
EXAMPLE := $(CURDIR)/examples/text2sql
EXAMPLE_TEACHER := python:slm_distill.examples.text2sql.teacher:TEACHER
OPTIONAL_MODULES := torch transformers peft trl accelerate datasets pyarrow matplotlib llama_cpp gguf mcp rouge_score sacrebleu psycopg

PG_BIN ?= /usr/lib/postgresql/15/bin
export SLM_DISTILL_PG_BIN := $(PG_BIN)

.PHONY: install demo test test-fast check-base lint clean pg-server

install: $(VENV)/.installed

$(LLAMA_SDIST):
	mkdir -p $(SDIST_DIR)
	$(PYTHON) -m pip download --no-deps --no-binary :all: -d $(SDIST_DIR) llama-cpp-python==$(LLAMA_CPP_VERSION)

$(LLAMA_WHEEL_STAMP): $(LLAMA_SDIST)
	mkdir -p $(WHEEL_DIR)
	@echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) once into $(WHEEL_DIR) (3-5 minutes)..."
	ls $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PYTHON) -m pip wheel --no-cache-dir --no-deps \
			-w $(WHEEL_DIR) $(LLAMA_SDIST)
	touch $@

$(VENV)/.installed: pyproject.toml Makefile $(LLAMA_WHEEL_STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q --no-deps --force-reinstall $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $@

demo: install
	$(VENV)/bin/distill demo --dir demo-project

# The tests start throwaway PostgreSQL 15 clusters of their own; only the server binaries are needed.
pg-server:
	@test -x $(PG_BIN)/initdb || { command -v apt-get >/dev/null && \
		{ apt-get install -y -q postgresql-15 || { apt-get update -q && apt-get install -y -q postgresql-15; }; }; } || \
		{ echo "PostgreSQL 15 server binaries are missing from $(PG_BIN): install Debian's postgresql-15"; exit 1; }

test: install pg-server
	$(PY) -m pytest -q -p no:cacheprovider

# No torch, no llama.cpp, no npm: the tests a change of the pipeline's logic needs first.
test-fast: install pg-server
	SLM_DISTILL_FAST_TESTS=1 $(PY) -m pytest -q -p no:cacheprovider -m "not slow and not network"

# `pip install slm-distill` alone: the light commands must run, and a missing extra must be an
# install hint, never a traceback. A fresh venv each time, so nothing installed by hand hides a gap.
check-base:
	rm -rf $(BASE_VENV)
	$(PYTHON) -m venv $(BASE_VENV)
	$(BASE_BIN)/python -m pip install -q --disable-pip-version-check .
	$(BASE_BIN)/python -c "import importlib.util as u, sys; extra = [m for m in sys.argv[1:] \
		if u.find_spec(m)]; sys.exit(f'not a base install, found: {extra}' if extra else 0)" $(OPTIONAL_MODULES)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && set -x && \
	$(BASE_BIN)/distill --help >/dev/null && \
	$(BASE_BIN)/distill init PROJ --schema $(EXAMPLE)/schema.sql --teacher $(EXAMPLE_TEACHER) \
		--student scratch:tiny && \
	$(BASE_BIN)/distill seeds add $(EXAMPLE)/seeds.jsonl --project PROJ && \
	$(BASE_BIN)/distill validate-teacher --project PROJ && \
	$(BASE_BIN)/distill generate --dry-run --project PROJ

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(BASE_VENV) demo-project build *.egg-info
