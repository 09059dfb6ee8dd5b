# Two entry points (see README.md): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= 2

.PHONY: setup demo test lint dryrun rulegraph report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of PyTorch, pinned: an unpinned torch pulls GBs of CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[workflow,test,download]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/snakemake --cores $(CORES) --show-failed-logs

dryrun: setup
	$(BIN)/snakemake -n --quiet rules

test: setup
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
