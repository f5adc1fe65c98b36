#!/usr/bin/env bash
# One command to run the service locally: creates .venv, installs, then `alert-ingest dev`
# (api + worker, and an embedded Redis when ALERT_INGEST_REDIS_URL is unset).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[embedded-redis]'
exec .venv/bin/alert-ingest dev "$@"
