"""Prometheus metrics of the worker process (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ingest.metrics import LATENCY_BUCKETS, NS

JOB_OUTCOMES = ("processed", "duplicate", "dropped", "retried", "dead_lettered")
ALERT_RESULTS = (
    "new_group",
    "grouped",
    "resolved",
    "acknowledged",
    "maintenance",
    "dropped",
)
TEMPLATE_NAMES = (
    "grouping_key",
    "resolve_signal",
    "acknowledge_signal",
    "source_link",
    "dynamic_labels",
    "multi_label",
    "route",
    "channel",
)
LABEL_DROP_REASONS = ("failed", "empty", "none", "too_long", "over_cap")

QUEUE_WAIT = Histogram(
    f"{NS}_queue_wait_seconds",
    "Time an alert waited in the queue, from enqueue to the start of processing.",
    buckets=(*LATENCY_BUCKETS, 5.0, 10.0, 30.0, 60.0),
)
JOBS = Counter(f"{NS}_jobs_total", "Alert jobs finished by the worker, by outcome.", ["outcome"])
PROCESSING = Histogram(
    f"{NS}_alert_processing_seconds",
    "Time to process one alert (templates, routing, grouping, storage, event).",
    buckets=LATENCY_BUCKETS,
)
RECEIVED_TO_GROUPED = Histogram(
    f"{NS}_received_to_grouped_seconds",
    "Latency from the link receiving an alert to its group commit.",
    buckets=(*LATENCY_BUCKETS, 5.0, 10.0, 30.0, 60.0),
)
ALERTS = Counter(f"{NS}_alerts_total", "Alerts processed, by result.", ["result"])
TEMPLATE_ERRORS = Counter(
    f"{NS}_template_errors_total",
    "Template errors and warnings met while processing alerts, by template and kind.",
    ["template", "kind"],
)
TEMPLATE_RENDER = Histogram(
    f"{NS}_template_render_seconds",
    "Time to evaluate an integration's templates for one alert.",
    buckets=LATENCY_BUCKETS,
)
LABELS_DROPPED = Counter(
    f"{NS}_labels_dropped_total", "Labels dropped from alert groups, by reason.", ["reason"]
)
DEAD_LETTERS = Gauge(f"{NS}_dead_letter_size", "Jobs in the dead-letter list.")
HEARTBEAT_LAST = Gauge(
    f"{NS}_heartbeat_last_received_timestamp_seconds",
    "Unix time of the most recent heartbeat received from any integration.",
)
HEARTBEATS_EXPIRED = Gauge(
    f"{NS}_heartbeats_expired", "Integrations whose heartbeat is currently overdue."
)


# The labelled children used per alert, looked up once (``.labels()`` costs a lock and a hash).
JOBS_BY_OUTCOME = {outcome: JOBS.labels(outcome) for outcome in JOB_OUTCOMES}
ALERTS_BY_RESULT = {result: ALERTS.labels(result) for result in ALERT_RESULTS}


def _preinit() -> None:
    for name in TEMPLATE_NAMES:
        for kind in ("error", "warning"):
            TEMPLATE_ERRORS.labels(name, kind)
    for reason in LABEL_DROP_REASONS:
        LABELS_DROPPED.labels(reason)


_preinit()
