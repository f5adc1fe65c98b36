"""Prometheus metrics of webhook delivery (served on each worker's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ingest.metrics import LATENCY_BUCKETS, NS

OUTCOMES = ("delivered", "failed", "retried", "dead_lettered", "skipped", "dropped", "refused")
SLOW_BUCKETS = (*LATENCY_BUCKETS, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)

DELIVERIES = Counter(
    f"{NS}_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered (2xx), failed (a final error: template, URL, "
    "3xx/4xx), retried, dead_lettered (retries exhausted), skipped (trigger template false), "
    "dropped (webhook or group gone), refused (SSRF guard).",
    ["outcome"],
)
for _outcome in OUTCOMES:
    DELIVERIES.labels(_outcome)
RETRIES = Counter(f"{NS}_webhook_retries_total", "Webhook deliveries scheduled for another try.")
REQUEST_DURATION = Histogram(
    f"{NS}_webhook_request_duration_seconds",
    "Time from sending a webhook request to its response (or error).",
    buckets=SLOW_BUCKETS,
)
LATENCY = Histogram(
    f"{NS}_webhook_delivery_latency_seconds",
    "From the event being recorded to the receiver answering 2xx (retries included).",
    buckets=SLOW_BUCKETS,
)
BREAKERS_OPEN = Gauge(
    f"{NS}_webhook_circuit_breakers_open", "Webhooks whose circuit breaker is open in this worker."
)
