# pdsgd: every target sets itself up (creates .venv and installs the package) on first use.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= quick
# The grid of `make reproduce`, e.g. GRID="--workers 1,2,4 --micro-batch 1,16 --repeats 5".
GRID    ?=
PYTEST_ARGS ?=

.PHONY: help venv test lint reproduce reference lab notebooks bench docs clean

help:
	@echo "make reproduce   regenerate every result, figure and report under results/ (PROFILE=quick|full)"
	@echo "make reference   the full profile on Fashion-MNIST, kept in results/reference/ (~30 min)"
	@echo "make test        lint and run the test suite (notebooks included)"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make notebooks   rewrite notebooks/*.ipynb from their .py scripts, without outputs"
	@echo "make bench       run the benchmarks and print their tables"
	@echo "make docs        build the book (docs/ and the notebooks) into site/, offline (OUTPUTS=1: run the notebooks)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check pdsgd tests docs/hooks

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(PY) -m pdsgd reproduce --profile $(PROFILE) $(GRID)

# The kept reference run (results/reference/full-fashion-mnist/ and the index beside it):
# run it on a quiet machine, then commit results/reference/ (.gitignore keeps the cache out).
reference: $(STAMP)
	$(PY) -m pdsgd reproduce --profile full --dataset fashion-mnist --reference $(GRID)

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

# The book: docs/*.md, the README and the notebooks (mkdocs.yml). --strict fails on a broken
# link or anchor, as tests/test_docs.py does in `make test`. NO_MKDOCS_2_WARNING hides the
# theme's end-of-life notice (docs/index.md says why it is still the theme). The notebooks are
# rendered as stored, without outputs; `make docs OUTPUTS=1` runs each one while building.
OUTPUTS ?=
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 PDSGD_DOCS_OUTPUTS=$(if $(OUTPUTS),true,false) \
		$(VENV)/bin/mkdocs build --strict --quiet --site-dir site
	@echo "the book is in site/ (open site/index.html)"

# Everything under results/ except its README and the kept reference runs (whose caches go).
clean:
	rm -rf $(VENV) site results/reference/*/.cache
	find results -mindepth 1 -maxdepth 1 ! -name README.md ! -name reference -exec rm -rf {} +
