# pdsgd: every target sets itself up (creates .venv and installs the package) on first use.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: help venv test lint reproduce lab notebooks bench clean

help:
	@echo "make reproduce   regenerate every result, figure and report under results/ (PROFILE=quick|full)"
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
	$(PY) -m pdsgd reproduce --profile $(PROFILE)

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

clean:
	rm -rf $(VENV) results/*/ results/*.json results/*.md results/*.png results/*.svg
