# Targets users and CI rely on: install, demo, test, lint, bench.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock demo test test-fast lint audit bench bench-m365 soak clean

# Every dependency comes from requirements.lock, pinned with the sha256 of each distribution file
# (pip --require-hashes); the project itself from the working tree. `make lock` re-resolves (see README).
# PYTHONWARNINGS=ignore: setuptools warns on every editable build that a folder named like the package may
# shadow it, noise for everyone who runs `make demo` (issue 16: nothing surprising on stderr).
# editable_mode=compat: a plain path entry instead of setuptools' import finder, which every start of the
# CLI paid ~18 ms for (start-up is measured in `make bench`; an installed wheel has neither).
$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	PYTHONWARNINGS=ignore $(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

# Re-resolve the dependencies and rewrite requirements.lock with hashes (pip-tools in a throwaway venv).
lock:
	PY=$(PY) ./scripts/lock.sh

demo: install
	$(BIN)/kodo-provision demo

# Two pytest-xdist workers per core: each has its own simulator (tests/sim shares one per worker), and many
# tests wait on a real process (the kill and interrupt matrices), so a second worker per core fills the waits.
TEST_WORKERS ?= $(shell $(PY) -c "import os; print(2 * (os.cpu_count() or 1))")
# Bytecode is written even where the machine sets PYTHONDONTWRITEBYTECODE (this workplace does): without
# it every worker and every CLI process the tests start compiles the package, and pytest rewrites every test
# module's asserts again (collection: ~4.5 s per worker instead of ~1.5 s). The __pycache__ folders are
# ignored by git (.gitignore).
# The tests' temporary files (pytest's tmp_path, the simulators' folders, what killed processes leave) go
# to a folder of this run, on a memory file system where there is one: every credentials and journal write
# is fsynced, and on a disk four workers wait on each other's flushes. The folder is removed afterwards.
TEST_TMP_ROOT ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)
test: install
	@tmp=$$(mktemp -d "$(TEST_TMP_ROOT)/kodo-test.XXXXXX") && echo "pytest -n $(TEST_WORKERS) (temporary files: $$tmp)" && \
	TMPDIR=$$tmp env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal; \
	status=$$?; rm -rf "$$tmp"; exit $$status

# No network, no simulator: the pure units, the layout's meta tests and the golden plan renderings.
test-fast: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q tests/unit tests/meta tests/golden

lint: install
	$(BIN)/ruff check kodo_provision tests scripts
	$(BIN)/bandit -q -c pyproject.toml -r kodo_provision
	$(BIN)/mypy

# Known vulnerabilities in the installed dependencies (pip-audit, in a venv of its own so the
# project's environment stays as pyproject.toml says). Needs a vulnerability service: PyPI's
# per-release JSON API or api.osv.dev. Not in `lint`/CI: this workplace reaches neither (README).
audit: install
	$(PY) -m venv .venv-audit
	.venv-audit/bin/pip install -q pip-audit
	.venv-audit/bin/pip-audit --strict --no-deps --disable-pip -r requirements.lock

# Figures, never assertions: single-tenant request economy and wall time, bulk throughput,
# simulator capacity, how soon `onboard` makes its first request. About 6 minutes on the 2-core reference machine.
bench: install
	$(BIN)/python -m scripts.startup_bench
	$(BIN)/python -m scripts.bench
	$(BIN)/python -m scripts.bulk_bench --tenants 100 --concurrency 16 50
	$(BIN)/python -m scripts.bulk_bench --tenants 500 --concurrency 50
	$(BIN)/python scripts/sim_bench.py

# Issue 7: kodo-provision onboard vs CLI for Microsoft 365 (`m365 entra app add --grantAdminConsent
# --withSecret`), device-code sign-in included, same simulator latency. Needs Node.js 20+ and npm; installs
# the version pinned in scripts/m365/ into .cache/m365-cli/ once. Figures, never assertions.
bench-m365: install
	$(BIN)/python -m scripts.m365_compare

# The long fault run (issue 6): lags up to 60 s, 50 tenants, 20 kills. Not part of CI.
soak: install
	$(BIN)/python -m scripts.soak

clean:
	rm -rf $(VENV) .venv-audit .pytest_cache build *.egg-info
