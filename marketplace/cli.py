"""The `marketplace` command: serve, worker, db upgrade/downgrade, audit verify/checkpoint, demo, user add,
chain compile."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import socket
import sys
import threading
import time
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
# uvloop and httptools: the event loop and HTTP parser in C. No per-message deflate on websockets: a
# round's frames are a few hundred bytes, and compressing each one for each of a thousand watchers
# was the largest single cost of a hot round's fan-out (py-spy; docs/benchmarks.md).
SERVER_OPTIONS: dict[str, Any] = {
    "proxy_headers": False, "log_config": None, "loop": "uvloop", "http": "httptools",
    "ws_per_message_deflate": False,
}  # fmt: skip


def exit_normally_on_sigterm() -> None:
    """uvicorn re-raises SIGTERM after its graceful shutdown, which would end the process without its
    exit hooks; exiting normally instead releases the embedded servers (the last process out stops
    Anvil, say, which otherwise outlives everyone)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _analysis_worker_count(requested: int | None) -> int:
    """One analysis worker per core unless told otherwise: each analyses one track at a time."""
    return max(0, requested) if requested is not None else max(1, os.cpu_count() or 1)


def _when_answering(host: str, port: int, then: Callable[[], None]) -> None:
    """Call `then` in a thread once something accepts connections on host:port (the server is up)."""

    def wait() -> None:
        while True:
            try:
                with socket.create_connection((host, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        then()

    threading.Thread(target=wait, name="after-server-start", daemon=True).start()


def _seed_demo(urls: StoreUrls, settings: Settings) -> int:
    """The demo's rows now (seconds), its tracks' audio queued for the analysis workers; how many queued."""
    from arq import create_pool as create_jobs
    from arq.connections import RedisSettings

    from marketplace import demo
    from marketplace.chain import chain_client, seed_demo_wallets

    async def seed(conn: Any) -> int:
        organisations = await demo.seed(conn, settings.data_dir, tracks=settings.demo_tracks)
        await seed_demo_wallets(conn, chain_client(settings), organisations)
        jobs = await create_jobs(RedisSettings.from_dsn(urls.redis_url))
        try:
            queued = await demo.queue_audio(conn, jobs, organisations, tracks=settings.demo_tracks)
        finally:
            await jobs.aclose()
        print("demo data ready; sign in with any of these (password: demo-password):")
        for _, email, _, role in demo.DEMO_USERS:
            print(f"  {email:<24} {role.value}")
        if queued:
            print(
                f"{queued} demo tracks queued: the analysis workers render and analyse them in the background"
            )
        return queued

    return _with_connection(urls, seed)


def _say(line: str) -> None:
    print(line, flush=True)


def _watch_demo_progress(urls: StoreUrls, settings: Settings, since: float) -> None:
    """Print "Demo catalogue: 12 of 40 tracks analysed (18 s)" in the terminal as it changes, from a thread."""
    from marketplace import demo

    watch = demo.watch_progress(urls.database_url, settings.demo_tracks, _say, since=since)
    threading.Thread(target=asyncio.run, args=(watch,), name="demo-progress", daemon=True).start()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from marketplace.migrations import upgrade

    began = time.monotonic()
    urls = _connect(settings)
    upgrade(urls.database_url)
    if settings.stripe_api_key is None:  # the local Stripe stand-in sends its webhooks to this server
        from marketplace.stripe_standin import process as stripe_standin

        host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104 - a comparison
        stripe_standin.ensure_webhook_endpoint(
            stripe_standin.join(settings.data_dir), f"http://{host}:{args.port}/api/stripe/webhook"
        )
    _join_chain(settings)
    if args.demo and _seed_demo(urls, settings):
        _watch_demo_progress(urls, settings, since=began)
    exit_normally_on_sigterm()  # and so stop the workers below
    command = [sys.executable, "-m", "marketplace.cli", "worker"]
    workers: list[WorkerSupervisor] = []
    if not args.no_worker:
        # Round deadlines, payments and the chain run in the general worker; keep one beside the server.
        workers.append(WorkerSupervisor(command, os.environ.copy()))
        # Analysis workers start once the server answers, so their start-up does not delay its own.
        analysers = [
            WorkerSupervisor([*command, "--analysis"], os.environ.copy())
            for _ in range(_analysis_worker_count(args.analysis_workers))
        ]
        workers += analysers
        workers[0].start()

        def start_analysers() -> None:
            for analyser in analysers:
                analyser.start()

        probe = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104 - a comparison
        _when_answering(probe, args.port, start_analysers)
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
        for worker in workers:
            worker.stop()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from arq.worker import Worker

    from marketplace.worker import analysis_worker_settings, worker_settings

    _connect(settings)
    if args.analysis:
        Worker(**analysis_worker_settings()).run()
        return 0
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
    from marketplace.migrations import upgrade

    urls = _connect(settings)
    upgrade(urls.database_url)
    _join_chain(settings)
    if _seed_demo(urls, settings):
        print("`marketplace serve` runs them (`make run` does both)")
    return 0


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
        "--no-worker", action="store_true", help="do not start any arq worker beside the server"
    )
    serve.add_argument(
        "--analysis-workers", type=int, default=None, metavar="N",
        help="audio analysis workers to start beside the server (default: one per core)",
    )  # fmt: skip
    serve.add_argument(
        "--demo", action="store_true",
        help="load the demo first; its tracks' audio is rendered and analysed in the background",
    )  # fmt: skip
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run an arq worker (timers, payments, chain)")
    worker.add_argument(
        "--analysis", action="store_true", help="serve the audio analysis queue instead, one job at a time"
    )
    worker.set_defaults(run=cmd_worker)

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

    commands.add_parser(
        "demo", help="seed the demo users, catalogue and rounds, and queue the tracks' audio for analysis"
    ).set_defaults(run=cmd_demo)

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
