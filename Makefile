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
# Python compiles a module the first time it is imported and keeps the bytecode beside it (in
# .venv and the checkout's __pycache__ folders, ignored by git), so the install compiles nothing:
# the course imports about 6,000 of the 13,000 files it installs. That needs bytecode writing
# on, whatever the calling environment says.
unexport PYTHONDONTWRITEBYTECODE

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

# The install is uv's (pinned in constraints.txt, installed into .venv by pip): it installs in
# parallel, where pip installs one package at a time, and compiles nothing (see above). It
# reads pip's own configuration (`pip config list`: the indexes, find-links, constraints,
# certificate, timeout, trusted hosts and proxy of this machine), and, as pip does, takes the
# best version from all indexes; constraints.txt pins every package, so the set is the one pip
# would install.
define UV_INSTALL
import ast, os, subprocess, sys
listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
ranked = []                          # pip's precedence: [global], then [install], then PIP_* variables
for line in listed.stdout.splitlines():
    key, _, value = line.partition("=")
    section, _, name = key.rpartition(".")
    ranked.append(({"global": 0, "install": 1, ":env:": 2}.get(section, -1), name, ast.literal_eval(value)))
conf = {name: value for rank, name, value in sorted(ranked, key=lambda r: r[0]) if rank >= 0}
args = [sys.executable, "-m", "uv", "pip", "install", "--python", sys.executable,
        "--index-strategy", "unsafe-best-match", "-c", "constraints.txt"]
for option, flag in (("index-url", "--index-url"), ("extra-index-url", "--extra-index-url"),
                     ("find-links", "--find-links"), ("constraint", "-c"), ("trusted-host", "--allow-insecure-host")):
    for value in conf.get(option, "").split():
        args += [flag, value]
if conf.get("no-index", "").lower() in ("1", "true", "yes", "on"):
    args.append("--no-index")
env = dict(os.environ)
for option, variable in (("cert", "SSL_CERT_FILE"), ("proxy", "HTTPS_PROXY"), ("proxy", "HTTP_PROXY")):
    if conf.get(option):
        env.setdefault(variable, conf[option])
if conf.get("default-timeout"):
    env.setdefault("UV_HTTP_TIMEOUT", str(round(float(conf["default-timeout"]))))
sys.exit(subprocess.run(args + sys.argv[1:], env=env).returncode)
endef
export UV_INSTALL

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt uv
	$(BIN)/python -c "$$UV_INSTALL" -e '.[dev]'
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
