"""Third-party programs some tests drive for real (Alertmanager, Sentinel, Chromium).

``require_program`` skips a test when the program is missing on a developer's machine, and
fails it instead when ``ALERT_INGEST_TEST_REQUIRE_ALL=1`` (set by ``.ci/run``), so CI never
passes by skipping. ``scripts/install-test-deps.sh`` installs them from Debian's packages.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_program(name: str) -> str:
    """The absolute path of ``name`` on PATH; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} not found on PATH (scripts/install-test-deps.sh installs it)"
    if os.environ.get("ALERT_INGEST_TEST_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
