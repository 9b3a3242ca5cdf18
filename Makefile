# The two commands of README.md. Each is idempotent: it creates .venv and installs what it
# needs only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/quickstart

.PHONY: quickstart test install install-all chromium clean

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

## Debian's chromium for the demo's browser test (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      || echo "make: could not install chromium; tests/demo/test_app_browser.py will be skipped"; \
	  else \
	    echo "make: chromium not found (run: sudo apt-get install chromium);" \
	      "tests/demo/test_app_browser.py will be skipped"; \
	  fi; }

## Runs the whole test suite with every extra installed (as CI does).
test: $(VENV)/.all-stamp chromium
	$(PY) -m pytest -n 2 --dist loadfile tests tfds_builders

clean:
	rm -rf $(VENV) runs .pytest_cache
