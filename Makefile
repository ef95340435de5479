# Quickstart: `make demo` runs the bridge against the built-in sandboxes; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lock clean install report-screenshot

# `make install`: the service (README, "Install as a service"; bridge.md, "Installing as a service")
PREFIX  ?= /opt/lapor-bridge
BINDIR  ?= /usr/local/bin
UNITDIR ?= /etc/systemd/system
CONFDIR ?= /etc/lapor-bridge
PIP     := --quiet --disable-pip-version-check

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lapor-bridge demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check bridge adapters cli.py
	$(BIN)/mypy --strict bridge adapters cli.py

bench: $(STAMP)
	$(BIN)/python -m bench

# docs/report.png, the README's picture of the HTML report: the demo's, in headless Chromium
report-screenshot: $(STAMP)
	$(BIN)/python -m bench.screenshot --out docs/report.png

# regenerate the pinned, hashed lock after changing dependencies in pyproject.toml
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

# A virtual environment of its own under PREFIX, from the lock file, not editable: the package is
# built from a copy of the sources, so nothing refers to the checkout (it may be deleted) and no
# build files are left in it. An existing config.toml is never overwritten.
install:
	umask 022 && $(PYTHON) -m venv $(PREFIX)
	@case "$$($(PREFIX)/bin/python -c 'import sys; print(sys.base_prefix)')" in /home/*|/root/*) \
	  echo "warning: $(PYTHON) lives under /home or /root, which the unit hides (ProtectHome=yes):" \
	       "the service will not start; run make install PYTHON=/usr/bin/python3.11" >&2;; esac
	umask 022 && $(PREFIX)/bin/python -m pip install $(PIP) --require-hashes -r requirements.lock
	src=$$(mktemp -d) && trap 'rm -rf "$$src"' EXIT && \
	  cp -r pyproject.toml README.md cli.py bridge adapters "$$src" && \
	  umask 022 && $(PREFIX)/bin/python -m pip install $(PIP) --no-deps --force-reinstall "$$src"
	install -m 644 README.md $(PREFIX)/README.md
	install -d $(PREFIX)/docs && install -m 644 docs/*.md $(PREFIX)/docs/
	install -d $(PREFIX)/docs/contract && install -m 644 docs/contract/*.md $(PREFIX)/docs/contract/
	install -d $(BINDIR) $(UNITDIR)
	ln -sfn $(PREFIX)/bin/lapor-bridge $(BINDIR)/lapor-bridge
	sed -e 's|/opt/lapor-bridge|$(PREFIX)|g' -e 's|/etc/lapor-bridge|$(CONFDIR)|g' \
	  packaging/lapor-bridge.service > $(UNITDIR)/lapor-bridge.service
	chmod 644 $(UNITDIR)/lapor-bridge.service
	install -d -m 755 $(CONFDIR)
	install -d -m 700 $(CONFDIR)/credentials
	test -e $(CONFDIR)/config.toml || install -m 644 config.example.toml $(CONFDIR)/config.toml
	@echo "installed $(PREFIX); $(BINDIR)/lapor-bridge; $(UNITDIR)/lapor-bridge.service;" \
	  "configuration $(CONFDIR)/config.toml (then: systemctl daemon-reload)"

clean:
	rm -rf $(VENV) demo-out .mypy_cache .ruff_cache .pytest_cache
