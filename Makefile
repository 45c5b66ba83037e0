# jupyterhub-templates: every setup step lives here, so a clean clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL_ENV := .venv-kernel
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install install-test chp lab-build kernel demo test test-fast lint format clean chromium

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
	@# the develop symlink below would make pip write the shared data into labextension/
	rm -rf $(VENV)/share/jupyter/labextensions/jupyterhub-templates
	$(BIN)/pip install --quiet -e ".[demo,test,dev]"
	$(BIN)/jupyter labextension develop --overwrite . >/dev/null
	touch $@

install: $(VENV)/.installed chp

# The notebook kernel "mlflow_kernel": its own virtualenv (MLflow 3, scikit-learn, ...), the
# kernelspec registered in $(VENV)'s prefix, where single-user servers started from $(VENV)
# (and papermill in the tests) find it. Redone when the requirements or the script change,
# or when $(VENV) was reinstalled; setup_kernel.sh itself skips pip when nothing changed.
$(KERNEL_ENV)/.make-stamp: kernel_requirements.txt setup_kernel.sh $(VENV)/.installed
	PYTHON=$(PYTHON) ./setup_kernel.sh $(KERNEL_ENV) $(VENV)
	touch $@

kernel: $(KERNEL_ENV)/.make-stamp

demo: install kernel
	$(BIN)/jupyterhub -f jupyterhub_config.py

# Debian's Chromium for the browser end-to-end tests (tests/test_e2e_lab.py), driven by
# Playwright's bundled driver: never `playwright install`. Installing it needs root (as CI).
CHROMIUM := /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Debian's Prometheus for the metrics tests (tests/test_prometheus.py): a real scraper.
PROMETHEUS := /usr/bin/prometheus
.PHONY: prometheus
prometheus:
	@test -x $(PROMETHEUS) || { \
	  echo "installing Debian's prometheus for the metrics tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# Debian's haproxy for the replica tests (tests/test_replicas.py): a real load balancer.
# The tests start their own; a haproxy service the package may have started is stopped.
HAPROXY := /usr/sbin/haproxy
.PHONY: haproxy
haproxy:
	@test -x $(HAPROXY) || { \
	  echo "installing Debian's haproxy for the replica tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null && \
	  { { systemctl disable --now haproxy || service haproxy stop; } >/dev/null 2>&1 || true; }; }

# Debian's docker-compose validates deploy/docker-compose.yml (tests/test_deploy.py); no
# Docker engine is needed for `docker-compose config`.
DOCKER_COMPOSE := /usr/bin/docker-compose
.PHONY: docker-compose
docker-compose:
	@test -x $(DOCKER_COMPOSE) || { \
	  echo "installing Debian's docker-compose to validate the compose file"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }

# npm's oidc-provider, the OpenID Connect provider that serves the Keycloak realm of
# deploy/ in the single sign-on tests (tests/test_sso.py): no Keycloak runs here.
OIDC := tests/oidc/node_modules/.package-lock.json
$(OIDC): tests/oidc/package.json tests/oidc/package-lock.json
	npm ci --silent --prefix tests/oidc --no-audit --no-fund
	touch $@
.PHONY: oidc-provider
oidc-provider: $(OIDC)

# Apache Superset in its own virtualenv: tests/test_superset.py runs the deployment's
# Superset bootstrap and its dashboard against the real PostgreSQL.
SUPERSET_ENV := .venv-superset
$(SUPERSET_ENV)/.installed: tests/superset/requirements.txt
	$(PYTHON) -m venv $(SUPERSET_ENV)
	$(SUPERSET_ENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_ENV)/bin/pip install --quiet -r tests/superset/requirements.txt
	touch $@
.PHONY: superset
superset: $(SUPERSET_ENV)/.installed

test: install kernel chromium prometheus haproxy docker-compose oidc-provider superset
	bash tests/start-services.sh
	$(BIN)/jlpm test
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)
	$(BIN)/python -m pytest -ra -p pytest_jupyter.jupyter_server -p no:asyncio tests/jupyter_server

# The benchmark suite at full size (benchmarks/, BENCHMARKS.md); takes several minutes.
.PHONY: bench
bench: install haproxy
	bash tests/start-services.sh
	$(BIN)/python -m benchmarks --size full

# The long runs of the hardening suite (tests marked `long`: thousands of fuzz cases);
# `make test` runs their short versions.
.PHONY: test-long
test-long: install kernel
	bash tests/start-services.sh
	$(BIN)/python -m pytest -ra -m long $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/jlpm run lint:check

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/jlpm run lint

clean:
	rm -rf $(VENV) $(KERNEL_ENV) $(SUPERSET_ENV) node_modules labextension lib tsconfig.tsbuildinfo demo
