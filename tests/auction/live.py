"""Helpers for the live-round tests: tracks, rounds over HTTP, websocket watchers, an in-process arq worker."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from auction import jobs
from marketplace.embedded import StoreUrls
from rights import demo as rights_demo
from rights import service as rights
from tests.conftest import PROJECT_ROOT, SignedIn

USAGE = {"media": "online_ads", "territories": ["WORLD"], "term_months": 12, "start": "2027-01-01"}


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


async def wait_for(check: Callable[[], Any], within: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` (sync or async) until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


async def until_server_time_passes(pg_pool: asyncpg.Pool, moment: datetime) -> None:
    async def passed() -> bool:
        return bool(await pg_pool.fetchval("SELECT clock_timestamp() >= $1", moment))

    await wait_for(passed, what=f"the database's clock to pass {moment.isoformat()}")


async def new_track(
    pg_pool: asyncpg.Pool, owner: SignedIn, title: str = "Harbour Lights", *, clearable: bool = True
) -> UUID:
    """A track of the owner's; `clearable`: the owner holds all its rights and opts in to every sale."""
    async with pg_pool.acquire() as conn:
        track = await rights.create_track(
            conn, owner_organisation_id=owner.principal.organisation_id, title=title, artist="The Testers"
        )
        if clearable:
            await rights_demo.sole_owner(conn, owner.principal, track.id)
    return track.id


async def open_round(
    pg_pool: asyncpg.Pool, seller: SignedIn, params: dict[str, Any], duration: int = 60, **extra: Any
) -> dict[str, Any]:
    track_id = await new_track(pg_pool, seller)
    response = await seller.client.post(
        "/api/rounds",
        json={
            "track_id": str(track_id),
            "usage": USAGE,
            "params": params,
            "duration_seconds": duration,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    opened: dict[str, Any] = response.json()
    return opened


def sealed(mechanism: str = "vickrey", reserve: int = 10_000, **more: Any) -> dict[str, Any]:
    return {"mechanism": mechanism, "reserve": eur(reserve), **more}


class Watcher:
    """A websocket on a round that keeps every frame it receives, in order."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.frames: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.socket:
                self.frames.append(json.loads(message))
        except ConnectionClosed:
            pass  # `closed` and the socket's close code tell the test what happened
        finally:
            self.closed.set()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == "event"]

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Event and state messages, in the order they came."""
        return [frame for frame in self.frames if frame["type"] in ("event", "state")]

    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.updates]

    def states(self) -> list[dict[str, Any]]:
        """The state as the round frame gave it, then each state message's."""
        return [frame["state"] for frame in self.frames if frame["type"] in ("round", "state")]

    def bids(self) -> int:
        """The bid count as the watcher last heard it, from a state message or an event."""
        for frame in reversed(self.frames):
            if frame["type"] in ("round", "state"):
                return int(frame["state"]["bids"])
            if frame["type"] == "event" and frame["event"]["kind"] == "bid":
                return int(frame["event"]["bids"])
        raise AssertionError("no round frame yet")

    def watchers(self) -> int:
        return int(self.states()[-1]["watchers"])

    def kinds(self) -> list[str]:
        return [frame["event"]["kind"] for frame in self.events]

    async def until(self, check: Callable[[Watcher], Any], within: float = 10.0, what: str = "frames") -> Any:
        return await wait_for(lambda: check(self), within, what)

    async def event(self, kind: str, within: float = 10.0) -> dict[str, Any]:
        """The first event of `kind` (another buyer's bid comes as state, not as an event)."""
        found: dict[str, Any] = await self.until(
            lambda w: next((f for f in w.events if f["event"]["kind"] == kind), None),
            within,
            f"a {kind} event",
        )
        return found


def ws_url(base: str, round_id: str, after: int = 0) -> str:
    return f"{base.replace('http://', 'ws://', 1)}/ws/rounds/{round_id}?after={after}"


@asynccontextmanager
async def watching(base: str, who: SignedIn, round_id: str, after: int = 0) -> AsyncIterator[Watcher]:
    async with connect(
        ws_url(base, round_id, after), additional_headers={"Authorization": f"Bearer {who.token}"}
    ) as socket:
        watcher = Watcher(socket)
        await watcher.until(lambda w: w.frames and w.frames[0]["type"] == "round", what="the round frame")
        yield watcher


def in_process_worker(urls: StoreUrls, pg_pool: asyncpg.Pool, **options: Any) -> Worker:
    """An arq worker running the auction jobs inside the test's event loop."""
    return Worker(
        functions=jobs.functions,
        cron_jobs=options.pop("cron_jobs", jobs.cron_jobs),
        redis_settings=RedisSettings.from_dsn(urls.redis_url),
        ctx={"pool": pg_pool},
        on_startup=options.pop("on_startup", jobs.startup),
        on_shutdown=options.pop("on_shutdown", jobs.shutdown),
        poll_delay=0.05,
        handle_signals=False,
        **options,
    )


@pytest.fixture
async def timers(urls: StoreUrls, pg_pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    """A worker for the test that fires round deadlines, as `marketplace worker` would."""
    worker = in_process_worker(urls, pg_pool)
    task = asyncio.create_task(worker.async_run())
    yield worker
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await worker.close()


# ---------------------------------------------------------------- other processes


def process_env(test_env: dict[str, str], urls: StoreUrls) -> dict[str, str]:
    """The environment of a server or worker process on the test session's PostgreSQL and Redis."""
    return {
        **test_env,
        "DATABASE_URL": urls.database_url,
        "REDIS_URL": urls.redis_url,
        "PYTHONUNBUFFERED": "1",
    }


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "marketplace.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "worker"],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


async def until_healthy(base: str) -> None:
    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                return (await client.get("/health")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(healthy, within=60, what=f"{base} to answer /health")


async def until_worker_started(worker: subprocess.Popen[bytes]) -> None:
    """Wait for arq's start-up line (logged after our start-up hook rescheduled the timers), then keep
    draining the worker's log so it never blocks on a full pipe."""
    started = threading.Event()

    def drain() -> None:
        assert worker.stderr is not None
        for line in worker.stderr:
            if b"Starting worker" in line:
                started.set()

    threading.Thread(target=drain, daemon=True).start()
    await wait_for(started.is_set, within=30, what="the worker to start")


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill(process)


def client_for(base: str, who: SignedIn) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {who.token}"})
