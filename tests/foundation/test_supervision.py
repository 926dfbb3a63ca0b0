"""`marketplace serve` keeps its worker alive, /health tells when none is, and the server closes overdue
rounds itself while no worker is alive."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import psutil
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from marketplace.embedded import StoreUrls
from marketplace.heartbeat import HEARTBEATS
from marketplace.supervisor import FIRST_DELAY_SECONDS, MAX_DELAY_SECONDS, STABLE_AFTER_SECONDS, restart_delay
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for
from tests.conftest import PROJECT_ROOT, SignedIn, SignIn, free_port


@given(st.lists(st.floats(min_value=0, max_value=STABLE_AFTER_SECONDS * 2), min_size=1, max_size=30))
def test_restart_delay_doubles_while_the_worker_dies_young_and_resets_once_it_ran_a_while(
    runs: list[float],
) -> None:
    delay = None
    for ran in runs:
        previous, delay = delay, restart_delay(delay, ran)
        assert FIRST_DELAY_SECONDS <= delay <= MAX_DELAY_SECONDS
        if previous is None or ran >= STABLE_AFTER_SECONDS:
            assert delay == FIRST_DELAY_SECONDS
        else:
            assert delay == min(previous * 2, MAX_DELAY_SECONDS)


def _serve(env: dict[str, str], port: int, *options: str) -> subprocess.Popen[bytes]:
    """The server with its general worker only: these tests are about round timers, not analysis."""
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "serve", "--port", str(port), "--analysis-workers", "0", *options],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _workers_of(server: subprocess.Popen[bytes]) -> list[int]:
    """The live worker processes the server started (a killed one may linger as a zombie until reaped)."""
    found = []
    for child in psutil.Process(server.pid).children():
        try:
            if "worker" in child.cmdline():
                found.append(child.pid)
        except psutil.Error:  # exited, or a zombie, since the listing
            continue
    return found


async def _health(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/health")
    body: dict[str, Any] = response.json()
    return {"status_code": response.status_code, **body}


async def _closed_view(base: str, who: SignedIn, round_id: str) -> dict[str, Any] | None:
    async with live.client_for(base, who) as client:
        view: dict[str, Any] = (await client.get(f"/api/rounds/{round_id}")).json()
    return view if view["state"] == "closed" else None


async def _bid(base: str, who: SignedIn, round_id: str, amount: int) -> None:
    async with live.client_for(base, who) as client:
        response = await client.post(f"/api/rounds/{round_id}/bids", json={"amount": eur(amount)})
    assert response.status_code == 201, response.text


def _lateness(view: dict[str, Any]) -> timedelta:
    return datetime.fromisoformat(view["closed_at"]) - datetime.fromisoformat(view["closes_at"])


async def test_a_worker_killed_under_serve_is_restarted_and_its_round_still_closes_on_time(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls, test_env: dict[str, str]
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(live.process_env(test_env, urls), port)
    try:
        await live.until_healthy(base)
        [first_worker] = await wait_for(lambda: _workers_of(server), within=30, what="the supervised worker")
        # Long enough for the worker to come back on a busy shared machine.
        opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=12)
        await _bid(base, buyer, opened["id"], 5_000)

        psutil.Process(first_worker).kill()
        [second_worker] = await wait_for(
            lambda: [pid for pid in _workers_of(server) if pid != first_worker],
            within=30,
            what="a new worker",
        )
        health = await wait_for(
            lambda: _until_worker_up(base), within=30, what="/health to show the restarted worker"
        )
        assert health == {"status_code": 200, "status": "ok", "postgres": "up", "redis": "up", "worker": "up"}
        view = await wait_for(lambda: _closed_view(base, buyer, opened["id"]), within=30, what="the close")
        server.terminate()
        # Generous: the server drains its connections, then waits for its worker to finish its jobs.
        assert server.wait(timeout=45) == 0
    finally:
        live.stop(server)
    assert view["outcome"]["winner"]["bidder"] == str(buyer.principal.organisation_id)
    assert timedelta(0) <= _lateness(view) < timedelta(seconds=2), (
        f"closed {_lateness(view)} after its deadline"
    )
    assert not _running(second_worker), "a clean stop of the server stops its worker first"


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


async def _until_worker_up(base: str) -> dict[str, Any] | None:
    health = await _health(base)
    return health if health["worker"] == "up" else None


async def test_with_no_worker_alive_health_is_503_and_the_server_closes_overdue_rounds_itself(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls, test_env: dict[str, str]
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    redis = Redis.from_url(urls.redis_url)
    await redis.delete(HEARTBEATS)  # no worker of an earlier test still counts as alive
    await redis.aclose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(live.process_env(test_env, urls), port, "--no-worker")
    try:
        health = await wait_for(lambda: _answering(base), within=30, what=f"{base} to answer")
        assert health["status_code"] == 503
        assert health["worker"] == "down: never seen" and health["postgres"] == health["redis"] == "up"
        opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=3)
        await _bid(base, buyer, opened["id"], 5_000)
        view = await wait_for(lambda: _closed_view(base, buyer, opened["id"]), within=20, what="the close")
    finally:
        live.stop(server)
    # The fallback sweeps every two seconds; the rest is margin for a shared two-core machine.
    assert timedelta(0) <= _lateness(view) < timedelta(seconds=4), (
        f"closed {_lateness(view)} after its deadline"
    )


async def _answering(base: str) -> dict[str, Any] | None:
    try:
        return await _health(base)
    except httpx.TransportError:
        return None


async def test_a_worker_whose_server_was_killed_stops_itself(
    urls: StoreUrls, test_env: dict[str, str]
) -> None:
    port = free_port()
    server = _serve(live.process_env(test_env, urls), port)
    worker = None
    try:
        [worker] = await wait_for(lambda: _workers_of(server), within=30, what="the supervised worker")
        server.kill()
        server.wait(timeout=10)
        await wait_for(lambda: not _running(worker), within=30, what="the orphaned worker to stop")
    finally:
        live.stop(server)
        if worker is not None and _running(worker):
            psutil.Process(worker).kill()
