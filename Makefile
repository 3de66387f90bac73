# The two commands of the README:
#   make book   install, simulate, run every notebook, render the HTML book
#   make test   install, run the test suite
# the newest supported Python that runs (3.11 to 3.13), else python3; "runs",
# because a pyenv shim for a version that is installed but not selected exists
# on PATH and only fails when called
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c "" >/dev/null 2>&1 && command -v $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROFILE ?= book
JOBS ?= 2

CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install book notebooks html test lab benchmark clean

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

book: notebooks html

notebooks: $(INSTALLED)
	$(BIN)/python -m analysis_lib run --profile $(PROFILE) --jobs $(JOBS)

html: $(INSTALLED)
	$(BIN)/jupyter-book build --warningiserror --keep-going .
	@echo "The book is in _build/html/index.html"

# Debian's Chromium, for the test that opens the built book in a headless browser
$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: $(INSTALLED) $(CHROMIUM)
	$(BIN)/python -m pytest

lab: $(INSTALLED)
	$(BIN)/jupyter lab notebooks/

benchmark: $(INSTALLED)
	$(BIN)/python benchmarks/bench_simulation.py
	$(BIN)/python benchmarks/bench_photon_jets.py
	$(BIN)/python benchmarks/bench_shashlik.py
	$(BIN)/python benchmarks/bench_ldmx.py
	$(BIN)/python benchmarks/bench_real_files.py
	$(BIN)/python benchmarks/bench_threads.py
	$(BIN)/python benchmarks/bench_book.py

clean:
	rm -rf _build book/.pipeline data book/*/*.ipynb book/*/*.log
