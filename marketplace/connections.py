"""One pooled database connection per request: acquired with a timeout, always given back.

Litestar resolves a handler's dependencies side by side. When another dependency fails (`caller`
for an anonymous request, a bad query string), the connection already handed out is never closed
by Litestar: it stayed checked out, idle in PostgreSQL, until the garbage collector happened to
finalise it, and under fuzzing every pooled connection ended up like that. So each connection is
also noted in the request's scope, and the middleware gives back any that its handler did not.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar.datastructures import State
from litestar.exceptions import ServiceUnavailableException
from litestar.types import ASGIApp, Receive, Scope, Send

from rights.pooling import Connect

log = logging.getLogger("marketplace.connections")

HELD = "held_connections"
RETRY_AFTER_SECONDS = 2
TASK_DUMP_INTERVAL_SECONDS = 60


def _dump_tasks(state: State) -> None:
    """Log what every task is awaiting, at most once a minute: when the pool runs dry, this shows who
    holds its connections and what they wait for."""
    now = time.monotonic()
    if now - state.get("tasks_dumped_at", -TASK_DUMP_INTERVAL_SECONDS) < TASK_DUMP_INTERVAL_SECONDS:
        return
    state["tasks_dumped_at"] = now
    stacks = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=6, file=stacks)
    log.warning("no database connection free: running tasks follow\n%s", stacks.getvalue())


def _held(scope: Scope) -> list[Any]:
    held: list[Any] = scope.setdefault("state", {}).setdefault(HELD, [])
    return held


async def _give_back(pool: asyncpg.Pool, held: list[Any], conn: Any) -> None:
    if conn in held:
        held.remove(conn)
        await pool.release(conn)


async def acquire(state: State) -> Any:
    """A pooled connection, or 503 with Retry-After when none frees up in time; the caller releases it."""
    pool: asyncpg.Pool = state.pool
    try:
        return await pool.acquire(timeout=state.settings.database_acquire_timeout_seconds)
    except TimeoutError:
        _dump_tasks(state)
        raise ServiceUnavailableException(
            "the service is busy right now: try again in a moment",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


async def provide_conn(state: State, scope: Scope) -> AsyncGenerator[asyncpg.Connection, None]:
    """The `conn` dependency."""
    pool: asyncpg.Pool = state.pool
    conn = await acquire(state)
    held = _held(scope)
    held.append(conn)
    try:
        yield conn
    finally:
        await _give_back(pool, held, conn)


def connection_middleware(app: ASGIApp) -> ASGIApp:
    """Gives back the connections a request's handler left checked out."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            held = scope.get("state", {}).get(HELD, [])
            for conn in list(held):
                await _give_back(scope["app"].state.pool, held, conn)

    return middleware


def provide_connect(state: State) -> Connect:
    """The `connect` dependency, for handlers with slow work to do first (parsing a file off the event
    loop): `async with connect() as conn:` takes the connection only when the work is done."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[asyncpg.Connection]:
        conn = await acquire(state)
        try:
            yield conn
        finally:
            await state.pool.release(conn)

    return connect
