# Two commands on a fresh machine (Python 3.11, Java 17, make, pip): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench dev browser

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# Byte-compiled afterwards on every core, not by pip one file at a time: ~15 s sooner.
	$(BIN)/pip install --quiet --no-compile -e '.[test]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	@# Optional speed-up (new Spark processes start ~6 s sooner); install does not depend on it.
	-$(BIN)/pdm-assets class-archive
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/pdm-assets demo

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# The browser test drives Debian's chromium (Playwright's own browser download is not reachable).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test: lint browser
	cd $(CURDIR) && $(BIN)/dagster definitions validate -w workspace.yaml
	$(BIN)/python -m pytest

dev: install
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/data/dagster_home} $(BIN)/dagster dev -w workspace.yaml
