"""What the worker does with one queued alert, as an ordered list of small steps.

1. ``load``: the integration and its routes (cached; see ``worker.config_cache``). Deleted or
   unknown: the alert is dropped and counted.
2. ``decide``: labels, grouping key, resolve/acknowledge signals, then the first matching route,
   the default last (``ingest.trace.decide``, which the preview endpoint runs too).
3. ``commit``: an alert that only acts on an open group (``IntegrationType.acts_only``) and finds
   none stops here (``no_group``); otherwise the atomic grouping script (``worker.grouping``),
   which also stores the alert and its trace; a configuration change in between makes it answer
   ``stale`` and we start over (``worker.commit``). With ``auto_resolve_after``, the group's
   deadline then moves (``ingest.store.auto_resolve``).
4. ``notify``: render the route's enabled channels and send the events once (``worker.events``).

The web title is rendered once per alert, in step 3, for the group the alert would open (its id
drawn before the script runs), with the alert's labels in its context: it is that group's title,
and when the alert did open the group, step 4 renders the other channels around the same title,
so the group and its ``alert_group_created`` event never disagree.

Template failures never fail the alert: they are recorded in the trace and counted. Anything
else raises, and ``worker.jobs`` retries it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from ingest.models import INTEGRATION_TYPES
from ingest.queue import AlertJob
from ingest.store import auto_resolve, keys
from ingest.trace import Decision, decide
from templates_engine import (
    Evaluation,
    TemplateIssue,
    WebTitle,
    render_channels,
    render_web_title,
)
from worker import metrics
from worker.commit import alert_doc, commit_alert
from worker.config_cache import Config
from worker.deps import Deps
from worker.events import event_data, template_channels
from worker.grouping import Commit, GroupDecision, Placement, new_group_id


def evaluate(deps: Deps, config: Config, job: AlertJob, now: float) -> Decision:
    integration = config.integration
    assert integration is not None
    started = time.perf_counter()
    decision = decide(
        integration,
        config.routes,
        job.payload,
        max_labels=deps.settings.max_labels,
        limits=deps.limits,
        now=now,
        alert_id=job.alert_id,
    )
    metrics.TEMPLATE_RENDER.observe(time.perf_counter() - started)
    for dropped in decision.evaluation.dropped_labels:
        if dropped.reason in metrics.LABEL_DROP_REASONS:
            metrics.LABELS_DROPPED.labels(dropped.reason).inc()
    count_issues(decision.evaluation.issues)
    count_issues(
        [TemplateIssue("route", "error", t.error) for t in decision.routing.tried if t.error]
    )
    return decision


def count_issues(issues: tuple[TemplateIssue, ...] | list[TemplateIssue]) -> None:
    for issue in issues:
        head = issue.template.split(".", 1)[0]
        name = head if head in metrics.TEMPLATE_NAMES else "channel"
        metrics.TEMPLATE_ERRORS.labels(name, issue.kind).inc()


def group_link(deps: Deps, group_id: str) -> str:
    return f"{deps.settings.link_base}/api/v1/alert_groups/{group_id}"


@dataclass(frozen=True)
class Prepared:
    """What ``build_commit`` rendered that ``notify`` reuses: the alert's labels, and its web
    title rendered for the group it would open (``web.alert_group_id``)."""

    labels: dict[str, str]
    web: WebTitle


async def build_commit(
    deps: Deps, config: Config, job: AlertJob, prepared: list[Prepared]
) -> Commit | None:
    """Decide for ``job`` under ``config`` and describe the commit (the step retried on stale);
    None when the alert only acts on an open group and there is none. What it rendered is
    appended to ``prepared``."""
    integration = config.integration
    assert integration is not None
    now = time.time()
    decision = evaluate(deps, config, job, now)
    route = decision.route
    assert route is not None  # every integration has its default route
    evaluation = decision.evaluation
    if INTEGRATION_TYPES[integration.type].acts_only(job.payload) and not await has_open_group(
        deps, integration.id, route.id, evaluation
    ):
        return None
    group_id = new_group_id()
    labels = evaluation.labels_dict
    web = render_web_title(
        integration.type,
        integration.templates,
        job.payload,
        labels=labels,
        integration_name=integration.name,
        alert_group_id=group_id,
        alert_group_link=group_link(deps, group_id),
        limits=deps.limits,
    )
    prepared.append(Prepared(labels, web))
    return Commit(
        alert_id=job.alert_id,
        place=Placement.of(integration, route),
        grouping_id=evaluation.grouping_id,
        alert_doc=alert_doc(job, decision.trace()),
        now=now,
        received_at=job.received_at,
        title=web.title or "",
        labels=orjson.dumps(
            [{"key": lb.key, "value": lb.value} for lb in evaluation.labels]
        ).decode(),
        own_group=evaluation.own_group,
        resolve=evaluation.resolve_signal,
        acknowledge=evaluation.acknowledge_signal,
        maintenance_mode=decision.mode,
        new_group_id=group_id,
    )


async def has_open_group(
    deps: Deps, integration_id: str, route_id: str, evaluation: Evaluation
) -> bool:
    if evaluation.own_group:
        return False
    found = await deps.redis.exists(
        keys.open_group(integration_id, route_id, evaluation.grouping_id)
    )
    return bool(found)


# Results after which the group is open and its auto-resolve deadline moves (when the integration
# has one); ``acknowledged`` groups stay open, so they auto-resolve too.
ARMS_AUTO_RESOLVE = ("new_group", "grouped", "acknowledged")


async def process(deps: Deps, job: AlertJob) -> GroupDecision | None:
    """Run the pipeline for one alert; None when it was dropped (integration gone)."""
    prepared: list[Prepared] = []
    done = await commit_alert(
        deps, job.integration_id, lambda c: build_commit(deps, c, job, prepared)
    )
    if done is None:
        metrics.ALERTS_BY_RESULT["dropped"].inc()
        return None
    group = done.group
    if done.commit is None:
        return group  # nothing stored, no event (``worker.jobs`` retries or drops it)
    integration = done.config.integration
    if integration and integration.auto_resolve_after and group.result in ARMS_AUTO_RESOLVE:
        deadline = job.received_at + integration.auto_resolve_after
        await auto_resolve.arm(deps.redis, group.group_id, deadline)
    if group.result != "duplicate":
        counter = metrics.ALERTS_BY_RESULT.get(group.result)
        (counter or metrics.ALERTS.labels(group.result)).inc()
        metrics.RECEIVED_TO_GROUPED.observe(max(0.0, time.time() - job.received_at))
    await notify(deps, done.config, done.commit, job, group, prepared[-1])
    return group


async def notify(
    deps: Deps,
    config: Config,
    commit: Commit,
    job: AlertJob,
    group: GroupDecision,
    prepared: Prepared,
) -> None:
    integration = config.integration
    assert integration is not None
    mode = commit.maintenance_mode
    route = next(r for r in config.routes if r.id == commit.place.route_id)
    types = [] if mode == "maintenance" else list(group.events)
    data = {}
    if types:
        link = group_link(deps, group.group_id)
        rendering = render_channels(
            integration.type,
            integration.templates,
            job.payload,
            labels=prepared.labels,
            integration_name=integration.name,
            alert_group_id=group.group_id,
            alert_group_link=link,
            channels=template_channels(route),
            limits=deps.limits,
            # rendered before grouping: the title of the group this alert opened, or carried
            # over to the group it joined unless the title could tell the two apart
            web=prepared.web.for_group(group.group_id, link),
        )
        count_issues(rendering.issues)
        data = event_data(route, mode, "source", rendering)
    await deps.events.send_for_alert(
        job.alert_id, group.group_id, integration.id, integration.org_id, types, data
    )
