# The two commands: `make run` (the whole platform, embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test setup clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

# Development defaults; any of these can be overridden from the environment.
run test setup: export DEBUG ?= True

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py migrate --database channels --noinput
	$(PY) manage.py sync_schedules
	$(PY) manage.py ensureadmin

run: setup
	PORT=$(PORT) $(PY) manage.py runlocal

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var staticfiles
