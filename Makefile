# pdsgd: every target sets itself up (creates .venv and installs the package) on first use.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= quick
# The grid of `make reproduce`, e.g. GRID="--workers 1,2,4 --micro-batch 1,16 --repeats 5".
GRID    ?=
PYTEST_ARGS ?=

.PHONY: help venv git-filter test lint reproduce reference lab notebooks assignments bench docs clean

help:
	@echo "make reproduce   regenerate every result, figure and report under results/ (PROFILE=quick|full)"
	@echo "make reference   the full profile on Fashion-MNIST, kept in results/reference/ (~50 min on 2 cores)"
	@echo "make test        lint and run the test suite (notebooks included)"
	@echo "make lab         open the notebooks in JupyterLab (PORT=8890 IP=0.0.0.0 where to serve)"
	@echo "make notebooks   rewrite notebooks/*.ipynb from their .py scripts, without outputs"
	@echo "make assignments the exercises as nbgrader assignments, into assignments/"
	@echo "make bench       run the benchmarks and print their tables"
	@echo "make docs        build the book (docs/ and the notebooks) into site/, offline (OUTPUTS=1: run the notebooks)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Outputs never reach a commit: .gitattributes sends every .ipynb through the nbstripout
# filter, configured here for this clone (git does not carry filters in the repository).
# A class's autosaved outputs then stay in the working copy, unseen by git diff and
# `make test` (docs/course.md, "Outputs never reach a commit"). Relative to the work tree, so
# every work tree of the clone uses its own .venv; where that lacks nbstripout (after `make
# clean`), the notebook passes as it is, quietly, and the tests catch any outputs it holds.
# Outside a git checkout there is nothing to do.
git-filter: $(STAMP)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git config filter.nbstripout.clean \
			'if [ -x $(VENV)/bin/nbstripout ]; then exec $(VENV)/bin/nbstripout --keep-id; else exec cat; fi' && \
		git config filter.nbstripout.smudge cat; fi

venv: $(STAMP) git-filter

lint: $(STAMP)
	$(VENV)/bin/ruff check pdsgd tests docs/hooks

test: lint git-filter
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(PY) -m pdsgd reproduce --profile $(PROFILE) $(GRID)

# The kept reference run (results/reference/full-fashion-mnist/ and the index beside it):
# run it on a quiet machine, then commit results/reference/ (.gitignore keeps the cache out).
reference: $(STAMP)
	$(PY) -m pdsgd reproduce --profile full --dataset fashion-mnist --reference --force $(GRID)

# JupyterLab on the course; its terminals find this environment's commands (dask, pdsgd),
# whatever ~/.bashrc does; as root it adds --allow-root. PORT=8890 IP=0.0.0.0 choose where.
PORT ?=
IP   ?=
lab: $(STAMP) git-filter
	$(PY) -m pdsgd.course.lab notebooks $(if $(PORT),--port=$(PORT)) $(if $(IP),--ip=$(IP))

# The .py (py:percent) scripts and the .ipynb are paired by jupytext (notebooks/jupytext.toml).
# This syncs each pair (the newer side wins) and strips outputs, as tests/test_notebooks.py wants.
notebooks: $(STAMP) git-filter
	$(VENV)/bin/jupytext --sync notebooks/[0-9]*.py notebooks/solutions/[0-9]*.py
	$(VENV)/bin/nbstripout --keep-id notebooks/[0-9]*.ipynb notebooks/solutions/[0-9]*.ipynb

# The exercises as nbgrader assignments: the student version of each notebook's exercises in
# assignments/release/ (git-ignored), the course folder nbgrader grades in (docs/teacher.md).
assignments: $(STAMP)
	$(PY) -m pdsgd.course.assignments assignments

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
	rm -rf $(VENV) site assignments results/reference/*/.cache
	find results -mindepth 1 -maxdepth 1 ! -name README.md ! -name reference -exec rm -rf {} +
