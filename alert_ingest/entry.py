"""The ``alert-ingest`` console script: Ctrl-C at any moment ends it with 130 and no traceback.

The command's modules (aiohttp, redis, arq, Jinja2, the service) take a noticeable moment to
import. A Ctrl-C then, or while the command line and settings are read, would otherwise print a
``KeyboardInterrupt`` traceback: this module imports nothing heavy itself, so it can catch it.
Once a command runs, ``alert_ingest.failures.reported`` answers interrupts the same way.
"""

from __future__ import annotations

EXIT_INTERRUPTED = 130  # Ctrl-C, for every command (alert_ingest.failures uses this one)


def main() -> int:
    try:
        from alert_ingest.cli import main as run_command

        return run_command()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
