"""The `marketplace` command: serve, worker, db upgrade/downgrade, audit verify/checkpoint, demo, user add,
chain compile."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from marketplace.config import ConfigError, Settings, load_settings
from marketplace.embedded import StoreUrls, export_to_environment, store_urls
from marketplace.supervisor import WorkerSupervisor


def _connect(settings: Settings) -> StoreUrls:
    urls = store_urls(settings)
    export_to_environment(urls)
    return urls


def _join_chain(settings: Settings) -> None:
    """Start (or join) the embedded Anvil now, so this process holds it until it exits."""
    from marketplace.anvil import AnvilUnavailable, chain_url

    try:
        chain_url(settings)
    except AnvilUnavailable as missing:
        print(f"on-chain settlement is off: {missing}", file=sys.stderr)


def _with_pool(urls: StoreUrls, action: Callable[[Any], Awaitable[int]]) -> int:
    from marketplace.db import create_pool

    async def run() -> int:
        pool = await create_pool(urls.database_url, min_size=1, max_size=2)
        try:
            return await action(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def _with_connection(urls: StoreUrls, action: Callable[[Any], Awaitable[int]]) -> int:
    async def on_one_connection(pool: Any) -> int:
        async with pool.acquire() as conn:
            return await action(conn)

    return _with_pool(urls, on_one_connection)


# The client address is decided in one place, by TRUSTED_PROXIES (marketplace.addresses): uvicorn must
# not rewrite it from X-Forwarded-For first (by default it believes any header sent from 127.0.0.1).
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False, "log_config": None}


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from marketplace.migrations import upgrade

    urls = _connect(settings)
    upgrade(urls.database_url)
    if settings.stripe_api_key is None:  # the local Stripe stand-in sends its webhooks to this server
        from marketplace.stripe_standin import process as stripe_standin

        host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104 - a comparison
        stripe_standin.ensure_webhook_endpoint(
            stripe_standin.join(settings.data_dir), f"http://{host}:{args.port}/api/stripe/webhook"
        )
    _join_chain(settings)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting normally instead lets the worker be
    # stopped below and the embedded servers be released at exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    worker = None
    if not args.no_worker:
        # Round deadlines and audio analysis run in the arq worker; keep one running beside the server.
        worker = WorkerSupervisor([sys.executable, "-m", "marketplace.cli", "worker"], os.environ.copy())
        worker.start()
    try:
        uvicorn.run(
            "marketplace.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **SERVER_OPTIONS,
            ws_ping_interval=20,
            ws_ping_timeout=20,
            timeout_graceful_shutdown=10,
        )
    finally:
        if worker is not None:
            worker.stop()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from arq.worker import Worker

    from marketplace.worker import worker_settings

    _connect(settings)
    _join_chain(settings)
    Worker(**worker_settings()).run()
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from marketplace import migrations

    urls = _connect(settings)
    if args.action == "upgrade":
        migrations.upgrade(urls.database_url, args.revision or "heads")
    else:
        if not args.revision:
            print("marketplace db downgrade needs a revision, such as 'base'", file=sys.stderr)
            return 2
        migrations.downgrade(urls.database_url, args.revision)
    print(f"database {args.action}d to {args.revision or 'heads'}")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from marketplace.audit import anchor_sinks, checkpoint_and_anchor, read_anchors, verify_audit

    sinks = anchor_sinks(settings.data_dir)

    async def verify(pool: Any) -> int:
        anchored = await read_anchors(sinks)
        async with pool.acquire() as conn:
            report = await verify_audit(conn, anchored)
        counts = (
            f"{report.events_checked} events in {report.streams_checked} streams, "
            f"{report.checkpoints_checked} checkpoints, {report.anchors_checked} anchors, "
            f"{report.records_checked} bids, reveals and deals"
        )
        if report.intact:
            print(f"audit trail intact: {counts} verified")
            return 0
        for found in report.breaks:
            where = found.chain if found.seq is None else f"{found.chain} entry {found.seq}"
            print(f"audit trail BROKEN: {where}: {found.problem}", file=sys.stderr)
        print(f"({counts} checked)", file=sys.stderr)
        return 1

    async def checkpoint(pool: Any) -> int:
        head = await checkpoint_and_anchor(pool, sinks)
        if head is None:
            print("nothing audited yet: no checkpoint")
        else:
            print(f"global head: checkpoint {head.seq} {head.hash} ({head.streams} streams), anchored")
        return 0

    return _with_pool(_connect(settings), verify if args.action == "verify" else checkpoint)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from marketplace import demo
    from marketplace.migrations import upgrade

    urls = _connect(settings)
    upgrade(urls.database_url)

    async def seed(conn: Any) -> int:
        from marketplace.chain import chain_client, seed_demo_wallets

        organisations = await demo.seed(conn, settings.data_dir)
        await seed_demo_wallets(conn, chain_client(settings), organisations)
        print("demo data ready; sign in with any of these (password: demo-password):")
        for _, email, _, role in demo.DEMO_USERS:
            print(f"  {email:<24} {role.value}")
        return 0

    return _with_connection(urls, seed)


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from marketplace.accounts import service
    from marketplace.accounts.model import OrganisationKind
    from marketplace.accounts.passwords import password_problem
    from rights.identity import Role

    password = os.environ.get("MARKETPLACE_PASSWORD") or getpass.getpass("Password for the new user: ")
    problem = password_problem(password)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2

    async def add(conn: Any) -> int:
        user = await service.create_user(
            conn,
            organisation_name=args.organisation,
            organisation_kind=OrganisationKind(args.kind),
            email=args.email,
            display_name=args.name,
            role=Role(args.role),
            password=password,
        )
        print(f"created {user.role.value} {user.email} ({user.id})")
        return 0

    return _with_connection(_connect(settings), add)


def cmd_chain_compile(args: argparse.Namespace, settings: Settings) -> int:
    from contracts.chain.artifacts import compile_all

    for path in compile_all():
        print(f"wrote {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="marketplace", description="Music licensing marketplace")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web server (and one worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes")
    serve.add_argument(
        "--no-worker", action="store_true", help="do not start an arq worker beside the server"
    )
    serve.set_defaults(run=cmd_serve)

    commands.add_parser("worker", help="run an arq worker (timers, analysis)").set_defaults(run=cmd_worker)

    db = commands.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("revision", nargs="?", help="target revision (default for upgrade: heads)")
    db.set_defaults(run=cmd_db)

    audit = commands.add_parser("audit", help="audit log")
    audit.add_argument(
        "action",
        choices=["verify", "checkpoint"],
        help="verify: check every chain and the anchors; checkpoint: chain and anchor the heads now",
    )
    audit.set_defaults(run=cmd_audit)

    commands.add_parser("demo", help="seed the demo catalogue and users").set_defaults(run=cmd_demo)

    chain = commands.add_parser("chain", help="on-chain settlement contracts")
    chain.add_argument(
        "action", choices=["compile"], help="compile the Vyper contracts to ABI + bytecode files"
    )
    chain.set_defaults(run=cmd_chain_compile)

    user = commands.add_parser("user", help="manage users")
    user.add_argument("action", choices=["add"])
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", choices=["buyer", "rights_holder", "admin"], required=True)
    user.add_argument("--organisation", required=True)
    user.add_argument("--kind", choices=["agency", "label", "publisher", "studio", "other"], default="other")
    user.set_defaults(run=cmd_user_add)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.run(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
