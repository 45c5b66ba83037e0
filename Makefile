# jupyterhub-templates: every setup step lives here, so a clean clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install install-test chp lab-build demo test test-fast lint format clean

help:
	@echo "make demo   set everything up and start JupyterHub with the templates service"
	@echo "make test   install test dependencies, start what the tests need, run every test"
	@echo "make lint   ruff, eslint and prettier"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# configurable-http-proxy from npm, installed inside the virtualenv (no global npm install).
$(BIN)/configurable-http-proxy: | $(BIN)/python
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node configurable-http-proxy@^4.6
	ln -sf $(CURDIR)/$(VENV)/node/node_modules/.bin/configurable-http-proxy $@

chp: $(BIN)/configurable-http-proxy

$(VENV)/.installed: pyproject.toml package.json | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[demo,test,dev]"
	$(BIN)/jupyter labextension develop --overwrite . >/dev/null
	touch $@

install: $(VENV)/.installed chp

demo: install
	$(BIN)/jupyterhub -f jupyterhub_config.py

test: install
	bash tests/start-services.sh
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/jlpm run lint:check

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/jlpm run lint

clean:
	rm -rf $(VENV) node_modules labextension lib tsconfig.tsbuildinfo demo
