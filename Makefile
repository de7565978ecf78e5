# Every target sets up .venv itself, so a fresh clone needs only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench setup clean browser tools

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/orchestrator up $(ARGS)

test: $(STAMP) browser tools
	$(BIN)/python -m pytest -q

# The browser tests drive Debian's Chromium through Playwright; it comes from apt, never a browser download.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) ; } || \
		{ echo "Install Chromium (Debian/Ubuntu: apt-get install chromium), then run make test again." >&2; exit 1; }

# The service units in deploy/ are checked with systemd's own `systemd-analyze verify` (no systemd need run).
tools:
	@test -x /usr/bin/systemd-analyze || { command -v apt-get >/dev/null && (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd) ; } || \
		{ echo "Install systemd (for systemd-analyze), then run make test again." >&2; exit 1; }

# ruff formats and lints the whole tree; `.ci/run` checks both before the tests.
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Each benchmark prints its figures and ratios measured side by side in one run (nothing asserted).
bench: $(STAMP)
	$(BIN)/python bench/claims.py
	$(BIN)/python bench/claims.py --backends postgresql --max-jobs 4
	$(BIN)/python bench/claims.py --backends postgresql --server-workers 2,4
	$(BIN)/python bench/sensor_tick.py
	$(BIN)/python bench/e2e.py
	$(BIN)/python bench/e2e.py --guide light --objects 1000 --floor-runs 40
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/jobsite.py
	$(BIN)/python bench/operate.py
	$(BIN)/python bench/changesheets.py

clean:
	rm -rf $(VENV) .orchestrator
