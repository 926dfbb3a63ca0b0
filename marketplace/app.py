"""The application factory: stores, plugins, security, error handling and every package's routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from litestar import Litestar, get
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ServiceUnavailableException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from markupsafe import Markup
from redis.asyncio import Redis

import web
import web.pages
from auction import api as auction_api
from auction import pages as auction_pages
from auction.model import OfferLimits
from contracts import api as contracts_api
from contracts import pages as contracts_pages
from contracts import service as contracts_service
from contracts.chain import api as chain_api
from contracts.chain import pages as chain_pages
from contracts.chain.client import ChainClient
from discovery import api as discovery_api
from discovery import pages as discovery_pages
from marketplace import audit
from marketplace.accounts import api as accounts_api
from marketplace.accounts import pages as accounts_pages
from marketplace.accounts.sessions import CSRF_FIELD
from marketplace.chain import chain_client
from marketplace.chain import prepare as prepare_chain
from marketplace.config import Settings, load_settings
from marketplace.db import create_pool as create_db_pool
from marketplace.embedded import store_urls
from marketplace.errors import EXCEPTION_HANDLERS
from marketplace.licensing import configure_licensing
from marketplace.logs import configure_logging
from marketplace.security import GUARDS, provide_caller, provide_optional_caller, security_middleware
from rights import api as rights_api
from rights import pages as rights_pages

log = logging.getLogger("marketplace.app")


@get("/health", tags=["operations"])
async def health(state: State) -> Response[dict[str, str]]:
    """Both stores answer: 200; otherwise 503 naming the one that does not."""
    report = {"postgres": "up", "redis": "up"}
    try:
        async with state.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except Exception as exc:
        report["postgres"] = f"down: {type(exc).__name__}"
    try:
        await state.redis.ping()
    except Exception as exc:
        report["redis"] = f"down: {type(exc).__name__}"
    healthy = all(value == "up" for value in report.values())
    return Response(
        {"status": "ok" if healthy else "degraded", **report}, status_code=200 if healthy else 503
    )


async def provide_conn(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    async with state.pool.acquire() as conn:
        yield conn


def provide_jobs(state: State) -> ArqRedis:
    jobs: ArqRedis = state.jobs
    return jobs


def provide_pool(state: State) -> asyncpg.Pool:
    """For websockets, which must not hold a pooled connection for their whole life."""
    pool: asyncpg.Pool = state.pool
    return pool


def provide_offer_limits(state: State) -> OfferLimits:
    settings: Settings = state.settings
    return OfferLimits(
        below_floor_offers=settings.below_floor_offers, window_seconds=settings.below_floor_window_seconds
    )


def provide_data_dir(state: State) -> Path:
    data_dir: Path = state.settings.data_dir
    return data_dir


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
    contracts_service.configure(settings.settlement)
    urls = store_urls(settings)
    redis = Redis.from_url(urls.redis_url)
    chain = chain_client(settings)
    channels = ChannelsPlugin(
        backend=RedisChannelsPubSubBackend(redis=redis),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_db_pool(urls.database_url)
        app.state.jobs = await create_pool(RedisSettings.from_dsn(urls.redis_url))
        await prepare_chain(app.state.pool, chain)
        try:
            yield
        finally:
            await app.state.jobs.aclose()
            if chain is not None:
                await chain.close()
            await _close_pool(app.state.pool)
            await redis.aclose()

    template_config = TemplateConfig(directory=web.TEMPLATES_DIR, engine=JinjaTemplateEngine)

    app = Litestar(
        route_handlers=[
            health,
            *accounts_api.route_handlers,
            *audit.route_handlers,
            *accounts_pages.page_handlers,
            *web.pages.page_handlers,
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
            create_static_files_router(path="/static", directories=[web.STATIC_DIR], include_in_schema=False),
        ],
        dependencies={
            "conn": Provide(provide_conn),
            "caller": Provide(provide_caller, sync_to_thread=False),
            "optional_caller": Provide(provide_optional_caller, sync_to_thread=False),
            "jobs": Provide(provide_jobs, sync_to_thread=False),
            "data_dir": Provide(provide_data_dir, sync_to_thread=False),
            "offer_limits": Provide(provide_offer_limits, sync_to_thread=False),
            "pool": Provide(provide_pool, sync_to_thread=False),
            "chain": Provide(provide_chain, sync_to_thread=False),
        },
        state=State(
            {
                "settings": settings,
                "redis": redis,
                "urls": urls,
                "chain": chain,
                "rate_limits": {
                    "login": (settings.login_attempts_per_minute, 60),
                    "bids": (settings.bids_per_second, 1),
                    "invitations": (settings.invitations_per_hour, 3600),
                },
            }
        ),
        plugins=[channels],
        middleware=[security_middleware],
        guards=GUARDS,
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=template_config,
        openapi_config=OpenAPIConfig(
            title="Music licensing marketplace",
            version="0.1.0",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        lifespan=[lifespan],
        logging_config=None,
        request_max_body_size=settings.upload_limit_bytes,
    )
    engine = template_config.engine_instance
    engine.register_template_callable("csrf_field", _csrf_field)  # type: ignore[arg-type]
    engine.register_template_callable("csrf_value", _csrf_value)  # type: ignore[arg-type]
    return app
