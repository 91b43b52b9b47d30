# The two commands: `make run` (the demo) and `make test` (the suite on the embedded default).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
STACK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/trials_stack
STACK_BROKER_URL ?= redis://127.0.0.1:6379/14
PYTEST_ARGS ?=

.PHONY: run test test-stack lint messages system-packages demo clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# Debian packages: gettext compiles the Persian catalogue; chromium runs the browser tests;
# pango is what WeasyPrint needs for the printable report; poppler-utils' pdftotext reads it back in tests. Installed only when missing and root.
system-packages:
	@missing=""; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	dpkg -s libpango-1.0-0 libpangoft2-1.0-0 >/dev/null 2>&1 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Missing Debian packages:$$missing (install them with apt-get as root)"; fi; \
	fi

messages: $(VENV)/.installed
	@command -v msgfmt >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq gettext >/dev/null; }
	$(PY) manage.py compilemessages --ignore=$(VENV) -v 0

demo: $(VENV)/.installed messages
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_demo

run: demo
	@echo "Open http://$(HOST):$(PORT)/ (Persian: use the فارسی button on any page)"
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed system-packages messages
	$(PY) -m pytest -m "not stack" $(PYTEST_ARGS)

# The same suite on PostgreSQL (a fresh test database each run), Redis and a real Celery worker
# that the tests start themselves.
test-stack: $(VENV)/.installed system-packages messages
	DATABASE_URL=$(STACK_DATABASE_URL) CELERY_BROKER_URL=$(STACK_BROKER_URL) \
	  $(PY) -m pytest --create-db $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles db.sqlite3* .pytest_cache
