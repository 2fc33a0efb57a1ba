# pdsgd: every target sets itself up (creates .venv and installs the package) on first use.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= quick
# The grid of `make reproduce`, e.g. GRID="--workers 1,2,4 --micro-batch 1,16 --repeats 5".
GRID    ?=
PYTEST_ARGS ?=

.PHONY: help venv test lint reproduce reference lab notebooks bench clean

help:
	@echo "make reproduce   regenerate every result, figure and report under results/ (PROFILE=quick|full)"
	@echo "make reference   the full profile on Fashion-MNIST, kept in results/reference/ (~30 min)"
	@echo "make test        lint and run the test suite (notebooks included)"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make notebooks   rewrite notebooks/*.ipynb from their .py scripts, without outputs"
	@echo "make bench       run the benchmarks and print their tables"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check pdsgd tests

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(PY) -m pdsgd reproduce --profile $(PROFILE) $(GRID)

# The kept reference run (results/reference/full-fashion-mnist/ and the index beside it):
# run it on a quiet machine, then commit results/reference/ (.gitignore keeps the cache out).
reference: $(STAMP)
	$(PY) -m pdsgd reproduce --profile full --dataset fashion-mnist --reference --force $(GRID)

# JupyterLab on the course; its terminals find this environment's commands (dask, pdsgd).
lab: $(STAMP)
	$(PY) -m pdsgd.course.lab notebooks

# The .py (py:percent) scripts and the .ipynb are paired by jupytext (notebooks/jupytext.toml).
# This syncs each pair (the newer side wins) and strips outputs, as tests/test_notebooks.py wants.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/[0-9]*.py notebooks/solutions/[0-9]*.py
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level=WARN \
		notebooks/[0-9]*.ipynb notebooks/solutions/[0-9]*.ipynb

bench: $(STAMP)
	$(PY) -m pdsgd bench sequential

# Everything under results/ except its README and the kept reference runs (whose caches go).
clean:
	rm -rf $(VENV) results/reference/*/.cache
	find results -mindepth 1 -maxdepth 1 ! -name README.md ! -name reference -exec rm -rf {} +
