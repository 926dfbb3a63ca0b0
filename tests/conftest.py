"""One embedded PostgreSQL and Redis per test session, migrated to heads; fixtures for every package's tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar

from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind
from marketplace.app import create_app
from marketplace.cli import SERVER_OPTIONS
from marketplace.config import Settings, load_settings
from marketplace.db import create_pool
from marketplace.embedded import StoreUrls, store_urls
from marketplace.licensing import configure_licensing
from marketplace.migrations import upgrade
from rights.identity import Principal, Role

TEST_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment the app under test reads: a throwaway data dir, generous login limits."""
    env = dict(os.environ)
    env["MARKETPLACE_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    env["LOGIN_ATTEMPTS_PER_MINUTE"] = "100000"
    env["BODY_READ_TIMEOUT_SECONDS"] = "3"  # so the stalled-body test waits seconds, not the default 10
    return env


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    return load_settings(test_env)


@pytest.fixture(scope="session", autouse=True)
def licensing(settings: Settings) -> None:
    """The platform key and audio source, registered as the app and the worker register them at start."""
    configure_licensing(settings.data_dir)


@pytest.fixture(scope="session")
def urls(settings: Settings) -> StoreUrls:
    found = store_urls(settings)
    upgrade(found.database_url)
    return found


@pytest.fixture(scope="session")
def redis_url(urls: StoreUrls) -> str:
    return urls.redis_url


@pytest.fixture(scope="session")
async def pg_pool(urls: StoreUrls) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(urls.database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def scratch_database(urls: StoreUrls, pg_pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    name = f"scratch_{secrets.token_hex(4)}"
    await pg_pool.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(urls.database_url)
    yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    await pg_pool.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def db(pg_pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with pg_pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield conn
        finally:
            await transaction.rollback()


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Litestar]:
    """An app built on `settings` with its lifespan running, as one server process has it.

    The lifespan is entered and left in one task of its own: its cancel scopes must not cross tasks.
    """
    application = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with application.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run_lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield application
    finally:
        stop.set()
        await task


@pytest.fixture(scope="session")
async def app(settings: Settings, urls: StoreUrls) -> AsyncIterator[Litestar]:
    """The app with its lifespan running for the whole session."""
    async with running(settings) as application:
        yield application


def app_client(app: Litestar, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local", headers=headers
    )


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as anonymous:
        yield anonymous


class SignedIn(msgspec.Struct, frozen=True):
    client: httpx.AsyncClient
    principal: Principal
    token: str
    email: str


SignIn = Callable[..., Awaitable[SignedIn]]


@pytest.fixture
async def sign_in(app: Litestar, pg_pool: asyncpg.Pool) -> AsyncIterator[SignIn]:
    """`await sign_in("buyer")`: a fresh organisation and user, and a client carrying its API token."""
    clients: list[httpx.AsyncClient] = []

    async def make(role: str | Role, organisation: str | None = None) -> SignedIn:
        role = Role(role)
        suffix = secrets.token_hex(4)
        email = f"{role.value}-{suffix}@example.test"
        async with pg_pool.acquire() as conn:
            user = await accounts.create_user(
                conn,
                organisation_name=organisation or f"{role.value.replace('_', ' ').title()} Org {suffix}",
                organisation_kind=OrganisationKind.LABEL
                if role is Role.RIGHTS_HOLDER
                else OrganisationKind.AGENCY,
                email=email,
                display_name=f"Test {role.value} {suffix}",
                role=role,
                password=TEST_PASSWORD,
            )
            principal = await accounts.authenticate(conn, user.email, TEST_PASSWORD)
            issued = await accounts.issue_token(conn, principal, "tests")
        signed_in = app_client(app, issued.token)
        clients.append(signed_in)
        return SignedIn(client=signed_in, principal=principal, token=issued.token, email=email)

    yield make
    for opened in clients:
        await opened.aclose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def over_https(app: Litestar) -> AsyncIterator[None]:
    """The app as deployed behind HTTPS (COOKIE_SECURE=true), for one test."""
    saved = app.state.settings
    app.state.settings = msgspec.structs.replace(saved, cookie_secure=True)
    yield
    app.state.settings = saved


@pytest.fixture(scope="session")
async def live_server(app: Litestar) -> AsyncIterator[str]:
    """The same app served by uvicorn on a loopback port, for real websockets and browsers."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", ws_ping_interval=None, **SERVER_OPTIONS
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def chain_rpc_url(settings: Settings) -> Iterator[str]:
    """One Anvil per test session under the session's data dir, like the databases; skipped without Anvil."""
    from marketplace import anvil

    if anvil.anvil_binary() is None:
        pytest.skip("Anvil is not installed: `make` installs it into .tools/ with npm")
    yield anvil.embedded_chain_url(settings.data_dir)
    anvil.release()
