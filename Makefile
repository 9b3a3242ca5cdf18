# The two commands of README.md. Each is idempotent: it creates .venv and installs what it
# needs only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/quickstart

.PHONY: quickstart test install install-all clean

$(VENV)/.core-stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.all-stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $(VENV)/.core-stamp $@

install: $(VENV)/.core-stamp
install-all: $(VENV)/.all-stamp

## Runs the main job on the embedded default data (the toy world).
quickstart: $(VENV)/.core-stamp
	$(PY) -m jaxgeo.main --config configs/quickstart.py --workdir $(WORKDIR)

## Runs the whole test suite with every extra installed (as CI does).
test: $(VENV)/.all-stamp
	$(PY) -m pytest -n 2 --dist loadfile tests tfds_builders

clean:
	rm -rf $(VENV) runs .pytest_cache
