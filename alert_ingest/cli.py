"""``alert-ingest`` command line: api, worker, dev, dlq, tokens, import, migrate.

Settings come from ``ALERT_INGEST_*`` variables (see ``ingest.settings``); flags override them.
A bad value stops the command with one line naming the variable and exit code 2; an unreachable
Redis with one line naming it and exit code 1 (``alert_ingest.failures``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from alert_ingest.dev import run_dev
from alert_ingest.failures import EXIT_CONFIGURATION, reported, say
from ingest.access_log import JsonAccessLogger, access_log
from ingest.importer import command as import_command
from ingest.logs import setup_logging
from ingest.models import SCOPES
from ingest.redis_conn import connect
from ingest.settings import SERVE_MODES, Settings, SettingsError, load_settings
from ingest.store import dead_letters, migrate, tokens


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.api.app import create_app

    setup_logging(settings.log_level)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=lambda _: _listening(settings),  # called once the sockets listen
        access_log=access_log(settings.access_log),
        access_log_class=JsonAccessLogger,
        shutdown_timeout=15.0,
    )
    return 0


def _listening(settings: Settings) -> None:
    print(f"listening on http://{settings.host}:{settings.port} (serving {settings.serve})")
    if settings.metrics_port:
        print(f"metrics on http://{settings.host}:{settings.metrics_port}/metrics")
    sys.stdout.flush()


async def _tokens(settings: Settings, args: argparse.Namespace) -> int:
    redis: Redis = connect(settings.redis_url)
    try:
        if args.tokens_command == "create":
            try:
                token, secret = await tokens.create_token(redis, args.org, args.scope, args.name)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            scopes = " ".join(token.scopes)
            print(f"token id {token.id} for organization {token.org_id}, scopes {scopes}")
            print("the token is shown once; store it now:")
            print(secret)
        elif args.tokens_command == "list":
            for token in await tokens.list_tokens(redis, args.org):
                state = "revoked" if token.revoked_at else "active"
                print(
                    f"{token.id}\t{token.org_id}\t{token.name}\t{state}\t{' '.join(token.scopes)}"
                )
        else:
            revoked = await tokens.revoke_token(redis, args.token_id)
            if revoked is None:
                print(f"error: no token {args.token_id}", file=sys.stderr)
                return 1
            print(f"revoked {revoked.id}")
    finally:
        await redis.aclose()
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from worker.service import run_worker  # the api process never imports the worker

    setup_logging(settings.log_level)
    metrics_port = args.metrics_port
    if metrics_port is None:
        metrics_port = settings.metrics_port or 9100
    asyncio.run(run_worker(settings, args.concurrency, metrics_port, args.completion_wait))
    return 0


async def _dlq(settings: Settings, args: argparse.Namespace) -> int:
    redis: Redis = connect(settings.redis_url)
    try:
        if args.dlq_command == "list":
            listed = await dead_letters.entries(redis)
            if not listed:
                print("no dead-lettered alerts")
            for entry in listed:
                print(
                    f"{entry['alert_id']}\t{entry['integration_id']}\ttries={entry['tries']}"
                    f"\t{entry['error']}"
                )
        else:
            replayed = await dead_letters.replay(redis, settings.queue_name, args.alert_id)
            if args.alert_id and not (replayed.queued or replayed.kept):
                print(f"error: no dead letter for alert {args.alert_id}", file=sys.stderr)
                return 1
            print(f"re-queued {len(replayed.queued)} alert(s)")
            if replayed.kept:
                why = "a job with the same alert id is still queued, running or retrying"
                kept = " ".join(replayed.kept)
                print(f"kept {len(replayed.kept)} alert(s) in the dead-letter list ({why}): {kept}")
                return 3
    finally:
        await redis.aclose()
    return 0


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    redis: Redis = connect(settings.redis_url)
    try:
        if args.again:
            await migrate.forget_version(redis)
        elif await migrate.is_current(redis):
            print(f"schema version {await migrate.schema_version(redis)}: nothing to do")
            return 0
        done = await migrate.build_indexes(redis, progress=lambda line: print(line, flush=True))
    finally:
        await redis.aclose()
    return 0 if done else 1


def _version() -> str:
    try:
        return importlib.metadata.version("alert-ingest")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree never installed
        return "unknown (not installed)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0-65535)")
    return value


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alert-ingest",
        description="Alert ingest service compatible with the Grafana OnCall Integrations API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    api = sub.add_parser("api", help="run the HTTP process (link endpoints and public API)")
    api.add_argument("--host", help="listen address (ALERT_INGEST_HOST, default 0.0.0.0)")
    api.add_argument("--port", type=_port, help="listen port (ALERT_INGEST_PORT, default 8080)")
    api.add_argument(
        "--serve",
        choices=SERVE_MODES,
        help="links (integration links), api (public API) or all (ALERT_INGEST_SERVE, default all)",
    )
    mig = sub.add_parser(
        "migrate", help="bring the stored data to this version (build the group indexes)"
    )
    mig.add_argument(
        "--again",
        action="store_true",
        help="index every group again (after workers of an older version wrote groups)",
    )

    wrk = sub.add_parser("worker", help="run one worker process (arq) that processes queued alerts")
    wrk.add_argument(
        "--concurrency",
        type=_positive_int,
        default=50,
        help="alerts processed at once (default 50)",
    )
    wrk.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        help="port of /metrics and /health/live (ALERT_INGEST_METRICS_PORT, else 9100; 0 disables)",
    )
    wrk.add_argument(
        "--completion-wait",
        type=int,
        default=10,
        help="seconds to let jobs in flight finish on SIGTERM (default 10)",
    )

    dev = sub.add_parser(
        "dev", help="demo: api + worker (+ embedded Redis if ALERT_INGEST_REDIS_URL is unset)"
    )
    dev.add_argument("--port", type=_port, help="api port (default 8080)")
    dev.add_argument("--data-dir", default=".alert-ingest", help="embedded Redis data folder")

    dlq = sub.add_parser("dlq", help="inspect and replay dead-lettered alerts")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dsub.add_parser("list", help="list dead-lettered alerts with their errors")
    replay = dsub.add_parser("replay", help="re-queue one dead-lettered alert, or all")
    replay.add_argument("alert_id", nargs="?", default=None)

    tok = sub.add_parser("tokens", help="create, list or revoke API tokens")
    tsub = tok.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create a token; prints it as the last line")
    create.add_argument("--org", required=True, help="organization the token belongs to")
    create.add_argument(
        "--scope",
        action="append",
        default=None,
        help="scope (repeatable): integrations:read, integrations:write, alert_groups:read, "
        "alert_groups:write, outgoing_webhooks:read, outgoing_webhooks:write, or a Grafana "
        "alias; default all of them",
    )
    create.add_argument("--name", default="", help="a name shown in lists and audit fields")
    lst = tsub.add_parser("list", help="list tokens (never their secrets)")
    lst.add_argument("--org", default=None, help="only this organization's tokens")
    rev = tsub.add_parser("revoke", help="revoke a token by its id")
    rev.add_argument("token_id")
    import_command.add_parser(sub)
    return parser


def _dev(settings: Settings, args: argparse.Namespace) -> int:
    return run_dev(settings, args.data_dir)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Any]] = {
    "api": _api,
    "worker": _worker,
    "dev": _dev,
    "dlq": _dlq,
    "tokens": _tokens,
    "import": import_command.run,
    "migrate": _migrate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "scope", "absent") is None:
        args.scope = list(SCOPES)
    try:
        settings = load_settings(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            serve=getattr(args, "serve", None),
        )
    except SettingsError as exc:
        say(f"configuration error: {exc}")
        return EXIT_CONFIGURATION

    def run() -> int:
        result = COMMANDS[args.command](settings, args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)

    return reported(settings, run)


if __name__ == "__main__":
    raise SystemExit(main())
