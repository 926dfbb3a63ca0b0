"""The application factory: stores, plugins, security, error handling and every package's routes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from litestar import Litestar, get
from litestar.channels import ChannelsPlugin
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.openapi import OpenAPIConfig
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Scope
from markupsafe import Markup
from redis.asyncio import Redis

import web
import web.discover
import web.earnings
import web.inbox
import web.licences
import web.pages
import web.rounds_joined
import web.track
import web.workspace
from auction import api as auction_api
from auction import pages as auction_pages
from auction import service as auction
from auction.jobs import SWEEP_EVERY_SECONDS
from auction.model import OfferLimits
from auction.service import Relay
from contracts import api as contracts_api
from contracts import pages as contracts_pages
from contracts import service as contracts_service
from contracts import stripe_api
from contracts.chain import api as chain_api
from contracts.chain import pages as chain_pages
from contracts.chain.client import ChainClient
from contracts.payments import StripeGateway
from discovery import analysis
from discovery import api as discovery_api
from discovery import pages as discovery_pages
from discovery.model import CatalogueProgress
from marketplace import audit, demo, heartbeat, stalls
from marketplace.accounts import api as accounts_api
from marketplace.accounts import pages as accounts_pages
from marketplace.accounts.sessions import CSRF_FIELD, hear_own_announcements
from marketplace.apidocs import LocalSwaggerRenderPlugin, assets_router
from marketplace.bodies import body_middleware, spool_dir
from marketplace.chain import chain_client
from marketplace.chain import prepare as prepare_chain
from marketplace.config import Settings, load_settings
from marketplace.connections import connection_middleware, provide_conn, provide_connect
from marketplace.db import create_pool as create_db_pool
from marketplace.embedded import store_urls, stripe_gateway
from marketplace.errors import EXCEPTION_HANDLERS
from marketplace.headers import add_security_headers
from marketplace.licensing import configure_licensing
from marketplace.logs import configure_logging
from marketplace.openapi import document_file_bodies, document_rate_limits, document_refusals
from marketplace.principals import PrincipalCache, listen_for_revocations
from marketplace.pubsub import RedisPubSub
from marketplace.security import (
    GUARDS,
    PER_ADDRESS_BUCKETS,
    provide_caller,
    provide_optional_caller,
    security_middleware,
)
from rights import api as rights_api
from rights import pages as rights_pages

log = logging.getLogger("marketplace.app")


class DemoProgressReport(msgspec.Struct, frozen=True, kw_only=True):
    analysed: int
    failed: int
    total: int
    finished: bool
    text: str  # the sentence the Discover page and the terminal show


@get("/health", tags=["operations"])
async def health(state: State) -> Response[dict[str, str]]:
    """Both stores answer and a worker was seen lately: 200; otherwise 503 naming what is down."""
    report = {"postgres": "up", "redis": "up", "worker": "up"}
    try:
        async with state.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except Exception as exc:
        report["postgres"] = f"down: {type(exc).__name__}"
    try:
        await state.redis.ping()
        seen = await heartbeat.seconds_since_a_worker_was_seen(state.redis)
        if not heartbeat.worker_alive(seen):
            report["worker"] = "down: never seen" if seen is None else f"down: last seen {seen:.0f} s ago"
    except Exception as exc:
        report["redis"] = report["worker"] = f"down: {type(exc).__name__}"
    healthy = all(value == "up" for value in report.values())
    return Response(
        {"status": "ok" if healthy else "degraded", **report}, status_code=200 if healthy else 503
    )


async def provide_demo_progress(conn: asyncpg.Connection, state: State) -> CatalogueProgress | None:
    finished: CatalogueProgress | None = state.get("demo_finished")
    if finished is not None:
        return finished
    found = await demo.progress(conn, state.settings.demo_tracks)
    if found is not None and found.finished:
        # Finished stays finished in this process (a new analysis version needs a restart): every Discover
        # page would otherwise pay three queries for a progress bar it no longer shows.
        state.demo_finished = found
    return found


@get("/api/demo/progress", tags=["operations"])
async def demo_progress_report(demo_progress: CatalogueProgress | None) -> DemoProgressReport:
    """How many of the demo catalogue's tracks the workers have rendered and analysed (searchable) so far."""
    if demo_progress is None:
        raise NotFoundException("the demo is not loaded on this server")
    return DemoProgressReport(
        analysed=demo_progress.analysed, failed=demo_progress.failed, total=demo_progress.total,
        finished=demo_progress.finished, text=demo_progress.describe(),
    )  # fmt: skip


def provide_jobs(state: State) -> ArqRedis:
    jobs: ArqRedis = state.jobs
    return jobs


def provide_bidding(scope: Scope) -> auction_api.Bidding:
    app: Litestar = scope["app"]
    return auction_api.Bidding(
        connect=provide_connect(app.state),
        relay=auction_api.relay(app.plugins.get(ChannelsPlugin), app.state.jobs),
        caller=provide_caller(scope),
    )


def provide_pool(state: State) -> asyncpg.Pool:
    """For websockets, which must not hold a pooled connection for their whole life."""
    pool: asyncpg.Pool = state.pool
    return pool


def provide_offer_limits(state: State) -> OfferLimits:
    settings: Settings = state.settings
    return OfferLimits(
        below_floor_offers=settings.below_floor_offers, window_seconds=settings.below_floor_window_seconds
    )


def provide_demo_password() -> str:
    return demo.DEMO_PASSWORD


def provide_data_dir(state: State) -> Path:
    data_dir: Path = state.settings.data_dir
    return data_dir


def provide_payments(state: State) -> StripeGateway:
    payments: StripeGateway = state.payments
    return payments


def provide_chain(state: State) -> ChainClient:
    """The chain node client; 503 when this server has no node (no CHAIN_RPC_URL and no Anvil installed)."""
    client: ChainClient | None = state.chain
    if client is None:
        raise ServiceUnavailableException("on-chain settlement is not available on this server")
    return client


def _csrf_field(context: dict[str, Any]) -> Markup:
    token = context["request"].scope.get("state", {}).get("csrf_token", "")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


def _csrf_value(context: dict[str, Any]) -> str:
    token: str = context["request"].scope.get("state", {}).get("csrf_token", "")
    return token


SHUTDOWN_SECONDS = 10


async def sweep_while_no_worker(app: Litestar, relay: Relay) -> None:
    """Close overdue rounds from here whenever no worker has been seen lately, so a dead worker cannot keep
    a round open past its deadline. Closes are guarded in PostgreSQL, so racing a worker is harmless."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_SECONDS)
        try:
            if heartbeat.worker_alive(await heartbeat.seconds_since_a_worker_was_seen(app.state.redis)):
                continue
            done = await auction.sweep(functools.partial(app.state.pool.acquire, timeout=5), relay)
            if done:
                log.warning("no worker is alive: the server closed what was overdue", extra={"count": done})
        except Exception:  # a store away for a moment must not end the loop
            log.exception("the server's fallback sweep failed; trying again")


async def _close_pool(pool: asyncpg.Pool) -> None:
    """Close gracefully, but never let a connection someone still holds keep the process alive."""
    try:
        await asyncio.wait_for(pool.close(), SHUTDOWN_SECONDS)
    except TimeoutError:
        log.warning("database connections still in use after %s s: terminating them", SHUTDOWN_SECONDS)
        pool.terminate()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging()
    configure_licensing(settings.data_dir)
    spool_dir(settings).mkdir(parents=True, exist_ok=True)
    contracts_service.configure(settings.settlement)
    urls = store_urls(settings)
    payments = stripe_gateway(settings)
    redis = Redis.from_url(urls.redis_url)
    principals = PrincipalCache()
    hear_own_announcements(redis, principals.apply)
    chain = chain_client(settings)
    channels = ChannelsPlugin(
        backend=RedisPubSub(redis=redis),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Clips are analysed in this process's threads: BLAS threads spinning on every core would take
        # CPU from the event loop answering everyone else.
        analysis.use_one_core()
        app.state.pool = await create_db_pool(urls.database_url, max_size=settings.database_pool_size)
        app.state.jobs = await create_pool(RedisSettings.from_dsn(urls.redis_url))
        fallback = asyncio.create_task(
            sweep_while_no_worker(app, auction_api.relay(channels, app.state.jobs))
        )
        revocations = asyncio.create_task(listen_for_revocations(urls.redis_url, principals))
        await prepare_chain(app.state.pool, chain)
        stalls.freeze_start_up_heap()
        loop_watch = asyncio.create_task(stalls.watch_the_loop())
        try:
            yield
        finally:
            fallback.cancel()
            revocations.cancel()
            loop_watch.cancel()
            await asyncio.gather(fallback, revocations, loop_watch, return_exceptions=True)
            await app.state.jobs.aclose()
            if chain is not None:
                await chain.close()
            await _close_pool(app.state.pool)
            await redis.aclose()
            await payments.close()

    template_config = TemplateConfig(directory=web.TEMPLATES_DIR, engine=JinjaTemplateEngine)

    app = Litestar(
        route_handlers=[
            health,
            demo_progress_report,
            *accounts_api.route_handlers,
            *audit.route_handlers,
            *accounts_pages.page_handlers,
            *web.pages.page_handlers,
            *web.discover.page_handlers,
            *web.licences.page_handlers,
            *web.rounds_joined.page_handlers,
            *web.track.page_handlers,
            *web.workspace.page_handlers,
            *web.inbox.page_handlers,
            *web.earnings.page_handlers,
            *rights_api.route_handlers,
            *rights_pages.page_handlers,
            *auction_api.route_handlers,
            *auction_pages.page_handlers,
            *discovery_api.route_handlers,
            *discovery_pages.page_handlers,
            *chain_api.route_handlers,
            *chain_pages.page_handlers,
            *contracts_api.route_handlers,
            *contracts_pages.page_handlers,
            *stripe_api.route_handlers,
            create_static_files_router(path="/static", directories=[web.STATIC_DIR], include_in_schema=False),
            assets_router(),
        ],
        dependencies={
            "conn": Provide(provide_conn),
            "connect": Provide(provide_connect, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
            "optional_caller": Provide(provide_optional_caller, sync_to_thread=False),
            "jobs": Provide(provide_jobs, sync_to_thread=False),
            "bidding": Provide(provide_bidding, sync_to_thread=False),
            "data_dir": Provide(provide_data_dir, sync_to_thread=False),
            "offer_limits": Provide(provide_offer_limits, sync_to_thread=False),
            "pool": Provide(provide_pool, sync_to_thread=False),
            "payments": Provide(provide_payments, sync_to_thread=False),
            "chain": Provide(provide_chain, sync_to_thread=False),
            "demo_sign_ins": Provide(demo.sign_ins),
            "demo_password": Provide(provide_demo_password, sync_to_thread=False),
            "demo_progress": Provide(provide_demo_progress),
        },
        state=State(
            {
                "settings": settings,
                "redis": redis,
                "urls": urls,
                "payments": payments,
                "chain": chain,
                "principals": principals,
                "rate_limits": {
                    "login": (settings.login_attempts_per_minute, 60),
                    "login_failures": (
                        settings.login_failures_per_account,
                        settings.login_failure_window_seconds,
                    ),
                    "bids": (settings.bids_per_second, 1),
                    "invitations": (settings.invitations_per_hour, 3600),
                    "presessions": (settings.presessions_per_address_per_hour, 3600),
                    "licence_checks": (settings.licence_checks_per_minute, 60),
                },
            }
        ),
        plugins=[channels],
        # Outermost first: who is calling is known from the headers before any body is read (a request its
        # handler would refuse is refused unread), bodies are read whole before a handler runs, and no
        # connection outlives its request.
        middleware=[security_middleware, body_middleware, connection_middleware],
        before_send=[add_security_headers],
        guards=GUARDS,
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=template_config,
        openapi_config=OpenAPIConfig(
            title="Music licensing marketplace",
            version="0.1.0",
            path="/schema",
            render_plugins=[LocalSwaggerRenderPlugin()],
        ),
        lifespan=[lifespan],
        logging_config=None,
        # body_middleware applies each route's own limit; this is the largest of them.
        request_max_body_size=max(
            settings.upload_limit_bytes, settings.import_limit_bytes, settings.json_limit_bytes
        ),
    )
    document_refusals(app.openapi_schema)
    document_file_bodies(app)
    document_rate_limits(app, PER_ADDRESS_BUCKETS)
    engine = template_config.engine_instance
    engine.register_template_callable("csrf_field", _csrf_field)  # type: ignore[arg-type]
    engine.register_template_callable("csrf_value", _csrf_value)  # type: ignore[arg-type]
    return app
