"""What a command's failure looks like to the person who ran it: one line on stderr, no traceback.

Exit codes: 2 for bad configuration (``ingest.settings.SettingsError``, raised before any command
starts), 1 for a dependency that cannot be reached or refused us (Redis, a port to listen on), 130
for Ctrl-C. A Redis failure names the variable that chose that Redis, with its password hidden.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alert_ingest.entry import EXIT_INTERRUPTED
from ingest.settings import PREFIX, Settings, redacted

EXIT_UNREACHABLE = 1
EXIT_CONFIGURATION = 2


def say(message: str) -> None:
    """Print ``alert-ingest: <message>`` as one line on stderr."""
    line = " ".join(message.split())
    print(f"alert-ingest: {line}", file=sys.stderr, flush=True)


def reported(settings: Settings, run: Callable[[], int]) -> int:
    """Run a command; a Redis, network or interrupt failure becomes one line and an exit code."""
    where = f"Redis at {redacted(settings.redis_url)} ({PREFIX}REDIS_URL)"
    try:
        return run()
    except AuthenticationError as exc:
        say(f"{where} refused the credentials: {exc}")
    except MasterNotFoundError as exc:  # "No master found for 's' : <repr of a client> - error"
        found, _, cause = str(exc).partition(" : ")
        say(f"cannot reach {where}: {found}; {cause.rpartition(' - ')[2]}")
    except (RedisConnectionError, RedisTimeoutError) as exc:
        say(f"cannot reach {where}: {exc or type(exc).__name__}")
    except RedisError as exc:
        say(f"{where} answered with an error: {exc}")
    except OSError as exc:
        say(str(exc) or type(exc).__name__)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_UNREACHABLE
