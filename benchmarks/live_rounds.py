"""Live rounds under load: many websocket bidders on one round, against a bare broadcast for this machine's ceiling.

`python -m benchmarks.live_rounds [--quick]` starts embedded PostgreSQL and Redis in a temporary
directory, one server process (uvicorn) and one arq worker, then for 100, 500 and 1,000 bidders
(100 and 250 with --quick): every bidder watches the round's websocket, then all of them place one
sealed bid at once over HTTP. It reports acknowledged bids per second, bid-to-ack latency, and
commit-to-every-watcher latency (from the bid's commit time, read from the database's clock inside
its transaction, until the last watcher is current: has the event, or a state message at or after it,
since state is conflated per watcher). The same harness then drives a bare
Litestar app (POST publishes to Channels over the same Redis, websockets relay it; no database,
no sign-in) in its own server process: our figures are printed as a ratio to that ceiling.
Last, twenty rounds with two-second deadlines measure how late the worker closes a round.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import msgspec
from litestar import Litestar, WebSocket, post, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from marketplace.accounts import service as accounts
from marketplace.accounts import store as account_store
from marketplace.accounts.model import OrganisationKind
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async
from marketplace.stripe_standin import process as stripe_standin
from rights import demo as rights_demo
from rights import service as rights
from rights.identity import Role

HTTP_CONNECTIONS = 200
USAGE = {"media": "online_ads", "territories": ["WORLD"], "term_months": 12, "start": "2027-01-01"}


# ---------------------------------------------------------------- the bare broadcast (the ceiling)


def bare_app() -> Litestar:
    """POST /bid/{run} publishes a numbered event; /ws/{run} relays every event of the run."""
    redis = Redis.from_url(os.environ["REDIS_URL"])
    counters: dict[str, itertools.count[int]] = {}

    @post("/bid/{run:str}")
    async def bid(run: str, channels: ChannelsPlugin) -> dict[str, Any]:
        seq = next(counters.setdefault(run, itertools.count(1)))
        event = {"type": "event", "seq": seq, "at": time.time()}
        await channels.wait_published(event, f"bare:{run}")
        return event

    @websocket("/ws/{run:str}")
    async def watch(socket: WebSocket[Any, Any, Any], run: str, channels: ChannelsPlugin) -> None:
        await socket.accept()
        async with channels.start_subscription(f"bare:{run}") as subscriber:
            await socket.send_json({"type": "round", "seq": 0})
            async with subscriber.run_in_background(socket.send_text):
                while (await socket.receive())["type"] != "websocket.disconnect":
                    pass

    channels = ChannelsPlugin(
        backend=RedisChannelsPubSubBackend(redis=redis), arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000, subscriber_backlog_strategy="dropleft",
    )  # fmt: skip
    return Litestar(route_handlers=[bid, watch], plugins=[channels])


# ---------------------------------------------------------------- the harness


class Frame(msgspec.Struct):
    type: str
    seq: int | None = None


@dataclass
class Run:
    """One load run: n watchers that each place one bid."""

    n: int
    ack_ms: list[float] = field(default_factory=list)
    committed: dict[int, float] = field(default_factory=dict)  # seq → commit time (epoch seconds)
    # per watcher, (seq, receipt time) of each event or state message, in arrival order
    arrivals: list[list[tuple[int, float]]] = field(default_factory=list)
    elapsed: float = 0.0
    gone: set[int] = field(default_factory=set)  # watchers whose socket was dropped

    @property
    def dropped(self) -> int:
        return len(self.gone)

    def current(self, watcher: int, seq: int) -> float | None:
        """When the watcher first knew of event `seq`: the first message at or after it (a state
        message stands for the updates it replaced)."""
        return next((at for got, at in self.arrivals[watcher] if got >= seq), None)

    def everyone_current(self) -> bool:
        last = max(self.committed, default=0)
        return all(w in self.gone or (seen and seen[-1][0] >= last) for w, seen in enumerate(self.arrivals))

    def fan_out_ms(self) -> list[float]:
        """Commit → the last watcher current, per acknowledged bid."""
        late = []
        for seq, at in self.committed.items():
            times = [
                t for w in range(len(self.arrivals)) if w not in self.gone and (t := self.current(w, seq))
            ]
            late.append((max(times) - at) * 1000)
        return late


async def drive(
    n: int, ws_url: Callable[[int], str], headers: Callable[[int], dict[str, str]],
    place_bid: Callable[[httpx.AsyncClient, int], Awaitable[tuple[int, float]]], base: str,
) -> Run:  # fmt: skip
    """Connect n watchers, then fire n bids at once; wait until every acknowledged bid reached every watcher."""
    run = Run(n=n)
    decoder = msgspec.json.Decoder(Frame)
    ready = asyncio.Semaphore(0)

    async def watch(socket: ClientConnection, w: int) -> None:
        seen = run.arrivals[w]
        try:
            async for message in socket:
                frame = decoder.decode(message)
                if frame.type == "round":
                    ready.release()
                elif frame.type in ("event", "state") and frame.seq is not None:
                    seen.append((frame.seq, time.time()))
        except Exception:
            run.gone.add(w)

    sockets: list[ClientConnection] = []
    for start in range(0, n, 100):  # connect in batches, as a crowd arriving, not one SYN flood
        batch = await asyncio.gather(
            *(connect(ws_url(i), additional_headers=headers(i), max_queue=None, ping_interval=None)
              for i in range(start, min(n, start + 100)))
        )  # fmt: skip
        sockets.extend(batch)
    run.arrivals = [[] for _ in sockets]
    readers = [asyncio.create_task(watch(socket, w)) for w, socket in enumerate(sockets)]
    for _ in range(n):
        await asyncio.wait_for(ready.acquire(), 60)

    limits = httpx.Limits(max_connections=HTTP_CONNECTIONS, max_keepalive_connections=HTTP_CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def one(i: int) -> None:
            sent = time.perf_counter()
            seq, committed_at = await place_bid(client, i)
            run.ack_ms.append((time.perf_counter() - sent) * 1000)
            run.committed[seq] = committed_at

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        run.elapsed = time.perf_counter() - started

    deadline = time.monotonic() + 600
    while not run.everyone_current():
        if time.monotonic() > deadline:
            raise TimeoutError("not every watcher received every acknowledged bid within 10 minutes")
        await asyncio.sleep(0.05)
    for socket in sockets:
        await socket.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return run


# ---------------------------------------------------------------- the marketplace side


@dataclass
class Buyer:
    organisation_id: UUID
    token: str


async def make_buyers(pool: asyncpg.Pool, n: int) -> list[Buyer]:
    """Buyers inserted directly (password hashing would dominate the set-up), each with an API token."""
    buyers = []
    async with pool.acquire() as conn:
        for i in range(n):
            async with conn.transaction():
                organisation = await account_store.insert_organisation(
                    conn, f"Bench Buyer {i} {secrets.token_hex(3)}", OrganisationKind.AGENCY
                )
                user = await account_store.insert_user(
                    conn, organisation_id=organisation.id, email=f"bench-{uuid4().hex[:12]}@example.test",
                    display_name=f"Bidder {i}", role=Role.BUYER, password_hash="unusable",
                )  # fmt: skip
            issued = await accounts.issue_token(conn, account_store.principal_of(user), "benchmark")
            buyers.append(Buyer(organisation_id=organisation.id, token=issued.token))
    return buyers


async def make_seller(pool: asyncpg.Pool) -> tuple[str, UUID]:
    async with pool.acquire() as conn:
        user = await accounts.create_user(
            conn, organisation_name=f"Bench Label {secrets.token_hex(3)}", organisation_kind=OrganisationKind.LABEL,
            email=f"label-{uuid4().hex[:12]}@example.test", display_name="Bench Label", role=Role.RIGHTS_HOLDER,
            password="benchmark-password",
        )  # fmt: skip
        issued = await accounts.issue_token(conn, account_store.principal_of(user), "benchmark")
        track = await rights.create_track(
            conn, owner_organisation_id=user.organisation_id, title="Load", artist="Bench"
        )
        await rights_demo.sole_owner(conn, account_store.principal_of(user), track.id)
    return issued.token, track.id


async def open_round(base: str, seller_token: str, track_id: UUID, duration: int) -> str:
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {seller_token}"}
    ) as client:
        params = {"mechanism": "vickrey", "reserve": {"amount": 100, "currency": "EUR"}}
        body = {"track_id": str(track_id), "usage": USAGE, "params": params, "duration_seconds": duration}
        response = await client.post("/api/rounds", json=body)
        response.raise_for_status()
        round_id: str = response.json()["id"]
    return round_id


async def marketplace_run(
    bases: list[str], buyers: list[Buyer], seller_token: str, track_id: UUID, n: int
) -> Run:
    """Client i watches and bids through server process i mod len(bases)."""
    round_id = await open_round(bases[0], seller_token, track_id, duration=3_600)

    def server(i: int) -> str:
        return bases[i % len(bases)]

    async def place_bid(client: httpx.AsyncClient, i: int) -> tuple[int, float]:
        response = await client.post(
            f"{server(i)}/api/rounds/{round_id}/bids", json={"amount": {"amount": 1_000 + i, "currency": "EUR"}},
            headers={"Authorization": f"Bearer {buyers[i].token}"},
        )  # fmt: skip
        response.raise_for_status()
        receipt = response.json()
        return receipt["seq"], datetime.fromisoformat(receipt["committed_at"]).timestamp()

    return await drive(
        n, lambda i: f"{server(i).replace('http://', 'ws://')}/ws/rounds/{round_id}",
        lambda i: {"Authorization": f"Bearer {buyers[i].token}"}, place_bid, bases[0],
    )  # fmt: skip


async def bare_run(base: str, n: int) -> Run:
    run_id = secrets.token_hex(4)
    ws = base.replace("http://", "ws://")

    async def place_bid(client: httpx.AsyncClient, i: int) -> tuple[int, float]:
        response = await client.post(f"/bid/{run_id}")
        response.raise_for_status()
        event = response.json()
        return event["seq"], event["at"]

    return await drive(n, lambda i: f"{ws}/ws/{run_id}", lambda i: {}, place_bid, base)


async def close_lateness(
    base: str, pool: asyncpg.Pool, seller_token: str, track_id: UUID, rounds: int
) -> list[float]:
    """How long after its deadline the worker closed each of `rounds` two-second rounds, in ms."""
    ids = [UUID(await open_round(base, seller_token, track_id, duration=2)) for _ in range(rounds)]
    deadline = time.monotonic() + 60
    while await pool.fetchval("SELECT count(*) FROM rounds WHERE id = ANY($1) AND state = 'open'", ids):
        if time.monotonic() > deadline:
            raise TimeoutError("rounds were not closed within a minute")
        await asyncio.sleep(0.1)
    rows = await pool.fetch("SELECT closed_at - closes_at AS late FROM rounds WHERE id = ANY($1)", ids)
    return [row["late"].total_seconds() * 1000 for row in rows]


# ---------------------------------------------------------------- processes and reporting


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """In its own process group, stopped whole with whatever it started there."""
    return subprocess.Popen(
        [sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


async def until_up(base: str, method: str, path: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.request(method, path)).status_code < 300:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} did not come up")
            await asyncio.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(quick: bool, servers: int) -> None:
    sizes = (100, 250) if quick else (100, 500, 1_000)
    data_dir = tempfile.mkdtemp(prefix="live-rounds-bench-")
    secret = secrets.token_urlsafe(48)
    settings = load_settings({"MARKETPLACE_DATA_DIR": data_dir, "SECRET_KEY": secret})
    urls = store_urls(settings)
    await upgrade_async(urls.database_url)
    env = {
        **os.environ, "MARKETPLACE_DATA_DIR": data_dir, "SECRET_KEY": secret, "DATABASE_URL": urls.database_url,
        "REDIS_URL": urls.redis_url, "LOG_LEVEL": "WARNING",
        # A burst of bids queues for the pool's connections on these shared cores; measure the queue
        # rather than answering 503 after the default 5 s.
        "DATABASE_ACQUIRE_TIMEOUT_SECONDS": "60",
    }  # fmt: skip
    our_ports = [str(8733 + i) for i in range(servers)]
    ours = [f"http://127.0.0.1:{port}" for port in our_ports]
    bare = "http://127.0.0.1:8732"
    uvicorn = ["uvicorn", "--factory", "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
    processes = [
        *(start([*uvicorn, "--port", port, "marketplace.app:create_app"], env) for port in our_ports),
        start(["marketplace.cli", "worker"], env),
        start([*uvicorn, "--port", "8732", "benchmarks.live_rounds:bare_app"], env),
    ]
    pool = await create_pool(urls.database_url)
    try:
        for base in ours:
            await until_up(base, "GET", "/health")
        await until_up(bare, "POST", "/bid/warmup")
        buyers = await make_buyers(pool, max(sizes))
        seller_token, track_id = await make_seller(pool)
        results = []
        for n in sizes:
            results.append(
                (n, await marketplace_run(ours, buyers, seller_token, track_id, n), await bare_run(bare, n))
            )
        late = await close_lateness(ours[0], pool, seller_token, track_id, 20)
    finally:
        await pool.close()
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # The Stripe stand-in runs in its own session and stops when its last user leaves; be that user.
        stripe_standin.join(settings.data_dir)
        stripe_standin.release(settings.data_dir)
    print(f"{servers} marketplace server process(es), one worker, the bare broadcast in one process.\n")
    print_report(results, late)


def print_report(results: list[tuple[int, Run, Run]], late: list[float]) -> None:
    print(
        "| bidders | system | acked bids/s | bid→ack p50 ms | bid→ack p99 ms | commit→every watcher p50 ms | p99 ms | dropped sockets |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, ours, bare in results:
        for name, run in (("marketplace", ours), ("bare broadcast", bare)):
            fan = run.fan_out_ms()
            print(
                f"| {n:,} | {name} | {n / run.elapsed:,.0f} | {pct(run.ack_ms, 0.5):.1f} | {pct(run.ack_ms, 0.99):.1f} "
                f"| {pct(fan, 0.5):.1f} | {pct(fan, 0.99):.1f} | {run.dropped} |"
            )
    print()
    print("| bidders | throughput vs ceiling | bid→ack p50 × ceiling | commit→every watcher p50 × ceiling |")
    print("| ---: | ---: | ---: | ---: |")
    for n, ours, bare in results:
        print(
            f"| {n:,} | {bare.elapsed / ours.elapsed:.2f} | {pct(ours.ack_ms, 0.5) / pct(bare.ack_ms, 0.5):.1f} "
            f"| {pct(ours.fan_out_ms(), 0.5) / pct(bare.fan_out_ms(), 0.5):.1f} |"
        )
    print()
    print(
        f"Deadline to close, {len(late)} rounds: p50 {statistics.median(late):.0f} ms, "
        f"p99 {pct(late, 0.99):.0f} ms, max {max(late):.0f} ms (arq poll_delay 0.1 s)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="100 and 250 bidders instead of 100, 500 and 1,000"
    )
    parser.add_argument(
        "--servers", type=int, default=1, help="marketplace server processes; clients are spread over them"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.servers))
