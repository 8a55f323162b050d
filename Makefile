# Sequence Models: thin wrappers. Every target puts .venv/bin first on PATH, because
# nbgrader shells out to `alembic` and Jupyter must find the course's own kernel.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# Keep Jupyter, IPython and matplotlib state inside the checkout, never in $HOME.
export JUPYTER_CONFIG_DIR  := $(abspath $(VENV))/etc/jupyter-user
export JUPYTER_RUNTIME_DIR := $(abspath $(VENV))/var/jupyter-runtime
export IPYTHONDIR          := $(abspath $(VENV))/etc/ipython
export MPLCONFIGDIR        := $(abspath $(VENV))/etc/matplotlib
export JUPYTER_DATA_DIR    := $(abspath $(VENV))/var/jupyter-data
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PORT ?= 8888
PYTEST_ARGS ?=
WORKERS ?= 2
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help install lab test assignments bench site lint clean

help:
	@echo "make lab          set up .venv and serve JupyterLab on the course"
	@echo "make test         set up .venv and run the whole test suite"
	@echo "make assignments  regenerate assignments/ from solutions/"
	@echo "make bench        benchmark tables (notebook times, kernels)"
	@echo "make site         the course as a website in _site/html (lectures executed, cached)"

# pip compiles what it installs to bytecode one file at a time (half of the install's time);
# compileall does the same on every core. A file that does not compile (some packages ship
# Python 2 examples) is skipped, as pip skips it.
define COMPILE_ALL
import compileall, sysconfig
compileall.compile_dir(sysconfig.get_paths()["purelib"], quiet=2, workers=0)
endef
export COMPILE_ALL

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade -c constraints.txt pip setuptools wheel
	$(BIN)/python -m pip install --no-compile -c constraints.txt -e '.[dev]'
	$(BIN)/python -c "$$COMPILE_ALL"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --port=$(PORT) $(ALLOW_ROOT) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

assignments: $(STAMP)
	$(BIN)/python -m course_lib.course assignments

bench: $(STAMP)
	$(BIN)/python -m bench

site: $(STAMP)
	$(BIN)/python -m course_lib.site

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests bench

clean:
	rm -rf $(VENV) .pytest_cache .artifacts
