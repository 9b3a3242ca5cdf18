# The two commands of README.md. Each is idempotent: it creates .venv and installs what it
# needs only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/quickstart

.PHONY: quickstart test install install-all system-tools clean

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

## Debian packages the tests use, installed when missing: chromium (Playwright drives it for the
## demo's browser test; no browser download) and exiftool (reads back the XMP sidecars).
SYSTEM_TOOLS := chromium:chromium exiftool:libimage-exiftool-perl
system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	      || echo "make: could not install$$missing; the tests that need them will be skipped"; \
	  else \
	    echo "make: missing$$missing (run: sudo apt-get install$$missing);" \
	      "the tests that need them will be skipped"; \
	  fi; fi

## Runs the whole test suite with every extra installed (as CI does).
test: $(VENV)/.all-stamp system-tools
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests tfds_builders

clean:
	rm -rf $(VENV) runs .pytest_cache
