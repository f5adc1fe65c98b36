"""Committing an alert to its group, the one way the pipeline and heartbeat expiry both use.

``commit_alert(deps, integration_id, build)`` reads the integration's configuration (cached,
``worker.config_cache``), lets ``build`` turn it into a :class:`~worker.grouping.Commit` and runs
the grouping script (``build`` may answer None: nothing to commit, the decision is ``no_group``).
When the script answers ``stale`` (the integration or its routes changed since the configuration
was read) the configuration is read again and ``build`` called again, at most
``MAX_STALE_RETRIES`` times; a change on every attempt raises, and the job is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.queue import AlertJob
from worker.config_cache import Config
from worker.deps import Deps
from worker.grouping import NO_GROUP, Commit, GroupDecision

MAX_STALE_RETRIES = 5


@dataclass(frozen=True)
class Committed:
    """The configuration the commit was built from, the commit (None: nothing to commit), and the
    decision."""

    config: Config
    commit: Commit | None
    group: GroupDecision


async def commit_alert(
    deps: Deps, integration_id: str, build: Callable[[Config], Awaitable[Commit | None]]
) -> Committed | None:
    """Commit what ``build`` makes of the current configuration; None when the integration is gone
    (unknown or deleted)."""
    for _ in range(MAX_STALE_RETRIES):
        config = await deps.cache.get(integration_id)
        if config.integration is None or config.integration.deleted_at is not None:
            return None
        commit = await build(config)
        if commit is None:
            return Committed(config, None, GroupDecision(NO_GROUP, "", ()))
        group = await deps.grouper.commit(
            commit, config.version, deps.settings.max_alerts_per_group
        )
        if group.result != "stale":
            return Committed(config, commit, group)
        deps.cache.forget(integration_id)
    raise RuntimeError("integration configuration changed during every attempt")


def alert_doc(job: AlertJob, trace: dict[str, Any]) -> bytes:
    """The stored alert document: the job's fields and the trace of what was decided for it (with
    the api's ``notes`` on how it read the body, when there are any)."""
    if job.notes:
        trace = {**trace, "notes": list(job.notes)}
    return orjson.dumps(
        {
            "id": job.alert_id,
            "integration_id": job.integration_id,
            "received_at": job.received_at,
            "payload": job.payload,
            "trace": trace,
        }
    )
