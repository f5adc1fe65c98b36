#!/usr/bin/env bash
# Installs the third-party programs the test suite drives for real, from Debian's packages,
# when they are missing: redis-server, redis-sentinel, openssl (a certificate for a TLS Redis),
# Prometheus Alertmanager 0.25, and Chromium with ChromeDriver for the web console's browser
# tests. Nothing is downloaded at
# test time; this runs before the tests (as root, e.g. in CI) or tells you what to install.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
else
  echo "missing test programs: ${need[*]}"
  echo "install them with: sudo apt-get install -y ${need[*]}"
  echo "(tests that need them are skipped unless ALERT_INGEST_TEST_REQUIRE_ALL=1)"
fi
