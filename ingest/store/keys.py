"""Every Redis key alert-ingest uses is built here, and only here.

Data model (all keys share the ``ai:`` prefix; documents are orjson):

===================================  ======  =================================================
key                                  type    holds
===================================  ======  =================================================
``ai:orgs``                          set     organization ids that have tokens
``ai:token:<sha256>``                string  id of the API token whose secret hashes to this
``ai:tokens``                        hash    token id -> ApiToken document (index for listing)
``ai:integration:<id>``              string  Integration document (kept after soft delete)
``ai:integration-ids``               set     every integration id ever issued (never reused)
``ai:org:<org>:integrations``        zset    live integration ids of the org, score = seq
``ai:org:<org>:integration-seq``     string  integrations ever created in the org (counter)
``ai:link:<token>``                  string  integration id for a link token (deleted on delete)
``ai:integration:<id>:version``      string  bumped on every change of the integration or its routes
``ai:route:<id>``                    string  Route document
``ai:integration:<id>:routes``       zset    non-default route ids of the integration; score = the
                                             route's position (the truth for non-default routes)
``ai:escalation-chain:<id>``         string  EscalationChain document
``ai:org:<org>:escalation-chains``   zset    escalation chain ids of the org, score = created ms
``ai:org:<org>:chain-names``         hash    escalation chain name -> id (names unique per org)
``ai:org:<org>:oncall-ids``         hash    OnCall id -> our id of each object imported from OnCall
``ai:heartbeats``                    zset    integration id -> epoch seconds of its last heartbeat
``ai:rl:<scope>:<subject>:tat``      string  rate limit: arrival time in µs (``ingest.ratelimit``)
``arq:job:<alert id>``               string  queued alert: arq job, JSON (``ingest.queue``)
``<QUEUE_NAME>``                     zset    arq queue: alert ids by enqueue time, and the
                                             periodic (cron) jobs' ids
``ai:periodic:<QUEUE_NAME>``         zset    ids of periodic jobs put in that queue, score =
                                             when put (``ingest.queue.alert_queue_depth``)
``ai:group:<id>``                    hash    alert group: ids, state timestamps, counts, labels
``ai:group:<id>:alerts``             zset    the group's newest alert ids, score = received ms
``ai:alert:<id>``                    hash    alert: ``doc`` (payload + trace, JSON), group id,
                                             events state; its existence makes re-runs no-ops
``ai:open:<integ>:<route>:<md5>``    string  the open group for a grouping key (at most one)
``ai:last-resolved:<i>:<r>:<md5>``   string  the most recently resolved group for a key
``ai:maintenance-group:<integ>``     string  the integration's current maintenance group
``ai:maintenance-ends``              zset    integrations in maintenance, score = its end time
``ai:lock:<name>``                   string  a short write lock (``store.locks``)
``ai:group:<id>:attached``           set     groups attached to a maintenance group
``ai:org:<org>:groups``              zset    group ids of the org, score = ``started_ms`` (the
                                             first alert's receipt), the "all groups" index
``ai:org:<org>:gs:<state>``          zset    the org's groups in one state (firing, acknowledged,
                                             resolved, silenced), score = ``started_ms``
``ai:org:<org>:gi:<integ>``          zset    the org's groups of one integration (same score)
``ai:org:<org>:gr:<route>``          zset    the org's groups of one route (same score)
``ai:org:<org>:gsi:<state>:<integ>`` zset    state x integration (same score)
``ai:org:<org>:gsr:<state>:<route>`` zset    state x route (same score)
``ai:org:<org>:silence-ends``        zset    silenced groups with an end, score = silenced_until;
                                             read to move expired silences to ``firing``
``ai:schema-version``                string  what the data is (``SCHEMA_VERSION``); see
                                             ``ingest.store.migrate``
``ai:migration:cursor``              string  where an interrupted index build resumes
``ai:org:<org>:alerts``              zset    kept alert ids of the org, score = received ms
``ai:resolved-groups``               zset    resolved group ids, score = resolved time (retention)
``ai:events``                        stream  events for notifiers (see ``worker.events``)
``ai:console-session:<sha256>``      string  web console session: token id + CSRF token, with a
                                             TTL (``store.sessions``); the cookie holds the secret
``ai:dead-letters``                  list    jobs that failed every try, with the error (JSON)
``ai:heartbeat-expired``             set     integrations whose heartbeat is overdue
``ai:auto-resolve``                  zset    open groups of auto-resolving integrations, score =
                                             newest alert's time + ``auto_resolve_after``
``ai:integration:<id>:changes``      list    PagerDuty change events, newest first, capped
``ai:webhook:<id>``                  string  Webhook document (``ingest.store.webhooks``)
``ai:org:<org>:webhooks``            zset    webhook ids of the org, score = created ms
``ai:org:<org>:webhook-names``       hash    webhook name -> id (names unique per org)
``ai:org:<org>:webhooks-version``    string  bumped on every webhook change (worker caches)
``ai:webhook:<id>:responses``        list    newest 100 delivery attempts (JSON), newest first
``ai:wh:lane:<webhook>:<group>``     list    deliveries owed, in event order (``worker.webhooks``)
``ai:wh:lanes``                      zset    lanes with work, score = when due / lease expiry
``ai:wh:dead-letters``               list    deliveries that failed every retry (JSON)
``ai:wh:dispatcher``                 string  the worker that fans events out to lanes (a lease)
``ai:group:<id>:wh-responses``       hash    webhook id -> its latest response for the group
===================================  ======  =================================================
"""

from __future__ import annotations

import orjson

P = "ai:"

ORGS = P + "orgs"
TOKENS = P + "tokens"
INTEGRATION_IDS = P + "integration-ids"
RESOLVED_GROUPS = P + "resolved-groups"
EVENTS = P + "events"
DEAD_LETTERS = P + "dead-letters"
HEARTBEAT_EXPIRED = P + "heartbeat-expired"
HEARTBEATS = P + "heartbeats"
MAINTENANCE_ENDS = P + "maintenance-ends"
AUTO_RESOLVE = P + "auto-resolve"
GROUP_PREFIX = P + "group:"
ORG_PREFIX = P + "org:"
ALERT_PREFIX = P + "alert:"
ROUTE_PREFIX = P + "route:"
# Lua scripts that find a group or an organization by an id they read build its keys from these
# pieces (prefix + id + suffix), passed in ARGV; the functions below join the same pieces.
GROUP_ALERTS_SUFFIX = ":alerts"
GROUP_ATTACHED_SUFFIX = ":attached"
ORG_GROUPS_SUFFIX = ":groups"
ORG_ALERTS_SUFFIX = ":alerts"
SCHEMA_VERSION_KEY = P + "schema-version"
MIGRATION_CURSOR = P + "migration:cursor"
# Version 1: no group indexes (before they existed). Version 2: the group indexes below.
SCHEMA_VERSION = 2

# The group indexes (``group_index``), as pieces that the index Lua code
# (``ingest/store/lua/group_index.lua``) joins exactly as ``group_index`` does here.
INDEX_LAYOUT = {
    "org": ORG_PREFIX,
    "all": ORG_GROUPS_SUFFIX,
    "state": ":gs:",
    "integration": ":gi:",
    "route": ":gr:",
    "state_integration": ":gsi:",
    "state_route": ":gsr:",
    "sep": ":",
    "silence": ":silence-ends",
}
INDEX_LAYOUT_JSON = orjson.dumps(INDEX_LAYOUT)
INDEX_STATES = ("firing", "acknowledged", "resolved", "silenced")


def token_digest(digest: str) -> str:
    return f"{P}token:{digest}"


def integration(integration_id: str) -> str:
    return f"{P}integration:{integration_id}"


def org_integrations(org_id: str) -> str:
    return f"{P}org:{org_id}:integrations"


def org_integration_seq(org_id: str) -> str:
    return f"{P}org:{org_id}:integration-seq"


def link(token: str) -> str:
    return f"{P}link:{token}"


def route(route_id: str) -> str:
    return ROUTE_PREFIX + route_id


def integration_version(integration_id: str) -> str:
    """Bumped on every change of the integration or its routes (workers' cache check)."""
    return f"{P}integration:{integration_id}:version"


def change_events(integration_id: str) -> str:
    return f"{P}integration:{integration_id}:changes"


def integration_routes(integration_id: str) -> str:
    return f"{P}integration:{integration_id}:routes"


def rate_limit(scope: str, subject: str) -> str:
    """The rate-limit state of one subject (``ingest.ratelimit``)."""
    return f"{P}rl:{scope}:{subject}:tat"


def group(group_id: str) -> str:
    return GROUP_PREFIX + group_id


def group_alerts(group_id: str) -> str:
    return GROUP_PREFIX + group_id + GROUP_ALERTS_SUFFIX


def alert(alert_id: str) -> str:
    return ALERT_PREFIX + alert_id


def open_group(integration_id: str, route_id: str, grouping_id: str) -> str:
    return f"{P}open:{integration_id}:{route_id}:{grouping_id}"


def last_resolved(integration_id: str, route_id: str, grouping_id: str) -> str:
    return f"{P}last-resolved:{integration_id}:{route_id}:{grouping_id}"


def maintenance_group(integration_id: str) -> str:
    return f"{P}maintenance-group:{integration_id}"


def org_groups(org_id: str) -> str:
    return ORG_PREFIX + org_id + ORG_GROUPS_SUFFIX


def group_index(
    org_id: str,
    state: str | None = None,
    integration_id: str | None = None,
    route_id: str | None = None,
) -> str:
    """The index of the org's groups in ``state`` (and of one route, else of one integration).

    A route belongs to one integration, so route (+ state) is the narrowest index; the caller
    checks an integration given with a route.
    """
    base, lay = ORG_PREFIX + org_id, INDEX_LAYOUT
    if route_id is not None:
        if state is not None:
            return base + lay["state_route"] + state + lay["sep"] + route_id
        return base + lay["route"] + route_id
    if integration_id is not None:
        if state is not None:
            return base + lay["state_integration"] + state + lay["sep"] + integration_id
        return base + lay["integration"] + integration_id
    if state is not None:
        return base + lay["state"] + state
    return base + lay["all"]


def org_silence_ends(org_id: str) -> str:
    return ORG_PREFIX + org_id + INDEX_LAYOUT["silence"]


def org_alerts(org_id: str) -> str:
    return ORG_PREFIX + org_id + ORG_ALERTS_SUFFIX


def group_attached(group_id: str) -> str:
    return GROUP_PREFIX + group_id + GROUP_ATTACHED_SUFFIX


def escalation_chain(chain_id: str) -> str:
    return f"{P}escalation-chain:{chain_id}"


def org_escalation_chains(org_id: str) -> str:
    return f"{P}org:{org_id}:escalation-chains"


def org_escalation_chain_names(org_id: str) -> str:
    return f"{P}org:{org_id}:chain-names"


def org_oncall_ids(org_id: str) -> str:
    """OnCall id -> our id of every object imported into the org (``alert-ingest import``)."""
    return f"{ORG_PREFIX}{org_id}:oncall-ids"


def lock(name: str) -> str:
    return f"{P}lock:{name}"


def webhook(webhook_id: str) -> str:
    return f"{P}webhook:{webhook_id}"


def webhook_responses(webhook_id: str) -> str:
    return f"{P}webhook:{webhook_id}:responses"


def org_webhooks(org_id: str) -> str:
    return f"{ORG_PREFIX}{org_id}:webhooks"


def org_webhook_names(org_id: str) -> str:
    return f"{ORG_PREFIX}{org_id}:webhook-names"


def org_webhooks_version(org_id: str) -> str:
    return f"{ORG_PREFIX}{org_id}:webhooks-version"


WEBHOOK_LANES = P + "wh:lanes"
WEBHOOK_DEAD_LETTERS = P + "wh:dead-letters"
WEBHOOK_LANE_PREFIX = P + "wh:lane:"
WEBHOOK_DISPATCHER = P + "wh:dispatcher"


def group_webhook_responses(group_id: str) -> str:
    return f"{GROUP_PREFIX}{group_id}:wh-responses"


def webhook_lane(webhook_id: str, group_id: str) -> str:
    return f"{WEBHOOK_LANE_PREFIX}{webhook_id}:{group_id}"


def periodic_jobs(queue_name: str) -> str:
    return f"{P}periodic:{queue_name}"


def console_session(digest: str) -> str:
    return P + "console-session:" + digest
