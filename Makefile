# Entry points (see README.md): `make demo`, `make test` (fast unit tests) and `make test-all` (everything, CI).
# All create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= 2

# PyTorch for the demo and the tests: the CPU build, pinned (torch from the default index on Linux is the CUDA
# build, several GB). On Linux the requirement carries the +cpu label, so pip takes it from a CPU wheel or fails;
# TORCH_INDEX is the extra index pip may take it from. Its default is empty where pip's configured sources
# (find-links, a local wheel) already hold the CPU wheel, and the CPU wheel index otherwise; override it with
# `make setup TORCH_INDEX=<url>` (a mirror), or TORCH_INDEX= to use only pip's configured sources.
TORCH_VERSION := 2.13.0
ifeq ($(shell uname -s),Linux)
TORCH_SPEC := torch==$(TORCH_VERSION)+cpu
TORCH_INDEX ?= $(shell $(PYTHON) -m pip install --dry-run --quiet --no-deps --no-index "$(TORCH_SPEC)" >/dev/null 2>&1 \
	|| echo https://download.pytorch.org/whl/cpu)
else
# the macOS wheels on the default index are CPU builds
TORCH_SPEC := torch==$(TORCH_VERSION)
TORCH_INDEX ?=
endif

.PHONY: setup demo test test-all lint dryrun rulegraph report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "setup: installing PyTorch $(TORCH_SPEC) (CPU build) from $(if $(TORCH_INDEX),$(TORCH_INDEX) (TORCH_INDEX),pip's configured sources (no TORCH_INDEX; see pip config list))"
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	@echo "setup: installing twsrecon and its dependencies (Snakemake, xarray, Optuna, ...) into $(VENV)"
	$(BIN)/python -m pip install --quiet -e ".[workflow,test,download]"
	@echo "setup: done, $$(du -sh $(VENV) | cut -f1) in $(VENV)"
	touch $@

setup: $(VENV)/.installed

# Snakemake's default job-rate limit (100/1s) re-plans every ready job once a second while jobs run, which costs
# the scheduler half a core on a laptop; locally jobs start as cores free up, so the limit is set out of the way.
demo: setup
	$(BIN)/snakemake --cores $(CORES) --show-failed-logs --max-jobs-per-timespan 1000/100s

dryrun: setup
	$(BIN)/snakemake -n --quiet rules

# The unit tests, a few minutes: everything but the end-to-end workflow runs (marker `integration`).
test: setup
	$(BIN)/python -m pytest -m "not integration"

# Everything: the unit tests plus the workflow runs, the SLURM test and the rerun tests (what .ci/run calls).
test-all: setup
	$(BIN)/python -m pytest

report: setup
	$(BIN)/snakemake --report results/report.html

# The rule graph picture in README.md (needs graphviz: apt-get install graphviz); rerun after adding rules.
rulegraph: setup
	@command -v dot >/dev/null || { echo "graphviz 'dot' is needed: apt-get install graphviz" >&2; exit 1; }
	mkdir -p docs
	$(BIN)/snakemake --rulegraph > $(VENV)/rulegraph.dot
	dot -Tsvg $(VENV)/rulegraph.dot -o docs/rulegraph.svg

lint: setup
	$(BIN)/snakemake --lint

clean:
	rm -rf results resources logs benchmarks .snakemake
