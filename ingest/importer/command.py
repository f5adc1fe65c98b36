"""``alert-ingest import oncall``: read a running Grafana OnCall, plan, then (unless
``--dry-run``) write the plan into one of our organizations and report.

Works on Redis directly (like ``alert-ingest tokens``), for the organization given by ``--org``;
the api need not run. The OnCall token comes from ``--token`` or ``ALERT_INGEST_IMPORT_TOKEN``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import aiohttp
from redis.asyncio import Redis

from ingest.importer import plan_routes, plan_webhooks, state
from ingest.importer.apply import Applier
from ingest.importer.client import OnCallClient, OnCallError
from ingest.importer.plan import Plan, plan_chains, plan_integration
from ingest.importer.report import Print, counts_line, summary, table
from ingest.importer.source import Snapshot, read_oncall
from ingest.redis_conn import connect
from ingest.settings import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    imp = sub.add_parser("import", help="import configuration from another alerting system")
    isub = imp.add_subparsers(dest="import_source", required=True, metavar="SOURCE")
    oncall = isub.add_parser(
        "oncall",
        help="import integrations, routes, escalation chains and outgoing webhooks from "
        "Grafana OnCall, keeping every integration's link",
    )
    oncall.add_argument("--url", required=True, help="OnCall base URL, e.g. https://oncall.example")
    oncall.add_argument(
        "--token", default=None, help="OnCall API token (default: ALERT_INGEST_IMPORT_TOKEN)"
    )
    oncall.add_argument("--org", required=True, help="our organization to import into")
    oncall.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    oncall.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="skip integrations of types we do not have (default: import them as webhook)",
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def make_plan(
    snapshot: Snapshot, ours: state.Ours, settings: Settings, skip_unsupported: bool
) -> Plan:
    plan = Plan()
    plan.chains = plan_chains(snapshot, ours)
    plan.integrations = [
        plan_integration(source, plan, ours, settings, skip_unsupported)
        for source in snapshot.integrations
    ]
    plan.routes = plan_routes.plan_routes(snapshot, plan, ours, settings)
    plan.webhooks = plan_webhooks.plan_webhooks(snapshot.webhooks, plan, ours, settings)
    return plan


async def import_oncall(
    redis: Redis,
    settings: Settings,
    client: OnCallClient,
    org_id: str,
    *,
    dry_run: bool = False,
    skip_unsupported: bool = False,
    out: Print = print,
    err: Print = _stderr,
) -> int:
    """Run the import and print as it goes; returns the exit code (0, 1 or 3). Why OnCall could
    not be read goes to ``err`` (stderr), as every command's failure does."""
    try:
        snapshot = await read_oncall(client, out)
    except OnCallError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    if client.throttled:
        out(f"OnCall throttled {client.throttled} request(s); waited as it asked")
    for prefix in snapshot.link_prefixes():
        out(
            f"note: OnCall's links are under {prefix}/integrations/v1/; we serve "
            f"/integrations/v1/, so the proxy must strip {prefix} (docs/import-oncall.md, "
            "The switch)"
        )
    ours = await state.load(redis, org_id, snapshot)
    plan = make_plan(snapshot, ours, settings, skip_unsupported)
    if dry_run:
        for what, actions in (
            ("escalation chains", plan.chains),
            ("integrations", plan.integrations),
            ("routes", plan.routes),
            ("outgoing webhooks", plan.webhooks),
        ):
            out(counts_line(what, actions) + " (planned)")
    else:
        await Applier(redis, org_id, settings).run(plan, out)
    out("")
    table(plan, out)
    return summary(plan, dry_run, out)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    token = args.token or settings.import_token
    if not token:
        print("error: give --token or set ALERT_INGEST_IMPORT_TOKEN", file=sys.stderr)
        return EXIT_USAGE
    if not args.org.strip():
        print("error: --org must not be empty", file=sys.stderr)
        return EXIT_USAGE
    mode = "dry run, nothing will be written" if args.dry_run else "importing"
    redis: Redis = connect(settings.redis_url)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        await redis.ping()  # before reading OnCall: an unreachable Redis fails in one line at once
        print(f"OnCall at {args.url} -> organization {args.org} ({mode})")
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                client = OnCallClient(session, args.url, token)
            except OnCallError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            return await import_oncall(
                redis,
                settings,
                client,
                args.org.strip(),
                dry_run=args.dry_run,
                skip_unsupported=args.skip_unsupported,
            )
    finally:
        await redis.aclose()
