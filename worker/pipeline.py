"""What the worker does with one queued alert, as an ordered list of small steps.

1. ``load``: the integration and its routes (cached; see ``worker.config_cache``). Deleted or
   unknown: the alert is dropped and counted.
2. ``evaluate``: labels, grouping key, resolve/acknowledge signals (``templates_engine``).
3. ``route``: the first matching route, the default last.
4. ``commit``: an alert that only acts on an open group (``IntegrationType.acts_only``) and finds
   none stops here (``no_group``); otherwise the atomic grouping script (``worker.grouping``),
   which also stores the alert and its trace; a configuration change in between makes it answer
   ``stale`` and we start over.
5. ``notify``: render the route's enabled channels and send the events once (``worker.events``).

Template failures never fail the alert: they are recorded in the trace and counted. Anything
else raises, and ``worker.jobs`` retries it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest import ids
from ingest.models import INTEGRATION_TYPES, ROUTE_BACKENDS, TEMPLATE_CHANNEL_OF, Integration, Route
from ingest.settings import Settings
from ingest.store import keys
from ingest.trace import active_maintenance, build_trace, route_specs, template_limits
from templates_engine import (
    Evaluation,
    Limits,
    RouteDecision,
    TemplateIssue,
    evaluate_alert,
    render_channels,
    render_template,
    resolve_template,
    select_route,
)
from worker import metrics
from worker.config_cache import ConfigCache
from worker.events import EventSender
from worker.grouping import GroupDecision, Grouper

MAX_STALE_RETRIES = 5
DEPS = "deps"  # the key of ``Deps`` in arq's job context
GROUP_ID_LENGTH = 12  # as ``ids.public_id``
NO_GROUP = "no_group"  # an alert that only acts on an open group found none (nothing stored)


@dataclass
class Deps:
    redis: Redis
    settings: Settings
    cache: ConfigCache
    grouper: Grouper
    events: EventSender
    limits: Limits
    retry_base: float = 1.0  # seconds before the first retry; doubles each try

    @classmethod
    def create(cls, redis: Redis, settings: Settings, retry_base: float = 1.0) -> Deps:
        return cls(
            redis,
            settings,
            ConfigCache(redis),
            Grouper(redis),
            EventSender(redis),
            template_limits(settings),
            retry_base,
        )


@dataclass(frozen=True)
class Job:
    alert_id: str
    integration_id: str
    received_at: float
    payload: Any


def new_group_id() -> str:
    """A group id as ``ids.public_id("I")`` makes, from one random draw instead of twelve."""
    number = secrets.randbits(128)  # 12 base-34 digits of it are uniform to within 2**-67
    chars = []
    for _ in range(GROUP_ID_LENGTH):
        number, digit = divmod(number, len(ids.PUBLIC_ID_ALPHABET))
        chars.append(ids.PUBLIC_ID_ALPHABET[digit])
    return "I" + "".join(chars)


def evaluate(deps: Deps, integration: Integration, job: Job) -> Evaluation:
    started = time.perf_counter()
    evaluation = evaluate_alert(
        integration.type,
        integration.templates,
        job.payload,
        static_labels=[(label.key, label.value) for label in integration.labels],
        dynamic_labels=[(label.key, label.value) for label in integration.dynamic_labels],
        multi_label_template=integration.alert_group_labels_template,
        max_labels=deps.settings.max_labels,
        alert_id=job.alert_id,
        limits=deps.limits,
    )
    metrics.TEMPLATE_RENDER.observe(time.perf_counter() - started)
    for dropped in evaluation.dropped_labels:
        if dropped.reason in metrics.LABEL_DROP_REASONS:
            metrics.LABELS_DROPPED.labels(dropped.reason).inc()
    return evaluation


def choose_route(
    deps: Deps, routes: tuple[Route, ...], job: Job, labels: dict[str, str]
) -> RouteDecision:
    return select_route(route_specs(routes), job.payload, labels, limits=deps.limits)


def count_issues(issues: tuple[TemplateIssue, ...] | list[TemplateIssue]) -> None:
    for issue in issues:
        head = issue.template.split(".", 1)[0]
        name = head if head in metrics.TEMPLATE_NAMES else "channel"
        metrics.TEMPLATE_ERRORS.labels(name, issue.kind).inc()


def web_title(deps: Deps, integration: Integration, job: Job, labels: dict[str, str]) -> str:
    source = resolve_template(integration.type, integration.templates, "web.title")
    if source is None:
        return ""
    result = render_template(source, {"payload": job.payload, "labels": labels}, deps.limits)
    return (result.text or "")[:500]


def alert_doc(job: Job, evaluation: Evaluation, decision: RouteDecision, mode: str | None) -> bytes:
    trace = build_trace(evaluation, decision, mode)
    return orjson.dumps(
        {
            "id": job.alert_id,
            "integration_id": job.integration_id,
            "received_at": job.received_at,
            "payload": job.payload,
            "trace": trace,
        }
    )


async def process(deps: Deps, job: Job) -> GroupDecision | None:
    """Run the pipeline for one alert; None when it was dropped (integration gone)."""
    for _ in range(MAX_STALE_RETRIES):
        config = await deps.cache.get(job.integration_id)
        integration = config.integration
        if integration is None or integration.deleted_at is not None:
            metrics.ALERTS_BY_RESULT["dropped"].inc()
            return None
        now = time.time()
        mode = active_maintenance(integration, now)
        evaluation = evaluate(deps, integration, job)
        labels = evaluation.labels_dict
        decision = choose_route(deps, config.routes, job, labels)
        route = next((r for r in config.routes if r.id == decision.route_id), config.routes[-1])
        count_issues(evaluation.issues)
        count_issues([TemplateIssue("route", "error", t.error) for t in decision.tried if t.error])
        if INTEGRATION_TYPES[integration.type].acts_only(job.payload) and not await has_open_group(
            deps, integration.id, route.id, evaluation
        ):
            return GroupDecision(NO_GROUP, "", ())
        group = await deps.grouper.commit(
            alert_id=job.alert_id,
            new_group_id=new_group_id(),
            integration_id=integration.id,
            route_id=route.id,
            grouping_id=evaluation.grouping_id,
            own_group=evaluation.own_group,
            resolve=evaluation.resolve_signal,
            acknowledge=evaluation.acknowledge_signal,
            now=now,
            received_at=job.received_at,
            alert_doc=alert_doc(job, evaluation, decision, mode),
            config_version=config.version,
            max_alerts=deps.settings.max_alerts_per_group,
            maintenance_mode=mode,
            new_maintenance_group_id=new_group_id() if mode == "maintenance" else "",
            group_fields={
                "org_id": integration.org_id,
                "integration_id": integration.id,
                "team_id": integration.team_id or "",
                "route_id": route.id,
                "grouping_id": evaluation.grouping_id,
                "title": web_title(deps, integration, job, labels),
                "labels": orjson.dumps(
                    [{"key": lb.key, "value": lb.value} for lb in evaluation.labels]
                ).decode(),
            },
        )
        if group.result == "stale":
            deps.cache.forget(job.integration_id)
            continue
        if group.result != "duplicate":
            counter = metrics.ALERTS_BY_RESULT.get(group.result)
            (counter or metrics.ALERTS.labels(group.result)).inc()
            metrics.RECEIVED_TO_GROUPED.observe(max(0.0, time.time() - job.received_at))
        await notify(deps, integration, route, job, group, mode)
        return group
    raise RuntimeError("integration configuration changed during every attempt")


async def has_open_group(
    deps: Deps, integration_id: str, route_id: str, evaluation: Evaluation
) -> bool:
    if evaluation.own_group:
        return False
    found = await deps.redis.exists(
        keys.open_group(integration_id, route_id, evaluation.grouping_id)
    )
    return bool(found)


def enabled_channels(route: Route) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if route.slack.get("enabled"):
        out["slack"] = {"channel_id": route.slack.get("channel_id")}
    for backend in ROUTE_BACKENDS:
        conf = route.backends.get(backend, {})
        if conf.get("enabled"):
            out[backend] = {"id": conf.get("id")}
    return out


async def notify(
    deps: Deps,
    integration: Integration,
    route: Route,
    job: Job,
    group: GroupDecision,
    mode: str | None,
) -> None:
    types = [] if mode == "maintenance" else list(group.events)
    data: dict[str, Any] = {}
    if types:
        destinations = enabled_channels(route)
        rendering = render_channels(
            integration.type,
            integration.templates,
            job.payload,
            integration_name=integration.name,
            alert_group_id=group.group_id,
            alert_group_link=f"{deps.settings.link_base}/api/v1/alert_groups/{group.group_id}",
            channels=["web", *dict.fromkeys(TEMPLATE_CHANNEL_OF.get(d, d) for d in destinations)],
            limits=deps.limits,
        )
        count_issues(rendering.issues)
        channels: dict[str, Any] = {}
        for name in ["web", *destinations]:
            rendered = rendering.channels[TEMPLATE_CHANNEL_OF.get(name, name)]
            channels[name] = {
                **destinations.get(name, {}),
                "title": rendered.title,
                "message": rendered.message,
                "image_url": rendered.image_url,
            }
        data = {
            "route_id": route.id,
            "escalation_chain_id": route.escalation_chain_id,
            "escalate": mode is None and route.escalation_chain_id is not None,
            "maintenance_mode": mode,
            "actor": "source",
            "source_link": rendering.source_link,
            "channels": channels,
        }
    await deps.events.send_for_alert(
        job.alert_id, group.group_id, integration.id, integration.org_id, types, data
    )
