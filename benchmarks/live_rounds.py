"""Live rounds under load, each scenario against a bare broadcast measured in the same run.

`python -m benchmarks.live_rounds [--scenario burst|hot|many|deadlines|all] [--quick] [--servers N]`
starts embedded PostgreSQL and Redis in a temporary directory, N marketplace server processes
(uvicorn; clients are spread over them), one arq worker and a bare broadcast: a Litestar app in its
own process where POST publishes a numbered event to Channels over the same Redis and websockets
relay it, with no database, no sign-in and no conflation (every bid to every watcher). Its figures
are this machine's ceiling for the same traffic; ours are printed beside them.

- burst: for 100, 500 and 1,000 bidders (100 and 250 with --quick), each watches one round and
  all bid at once.
- hot: 1,000 watchers on one sealed round; 100 bidders bid at once, then 10 bids/s for 30 s.
- many: 200 rounds open at once with 10 watchers each; 200 bids/s for 60 s, spread over the rounds.
- deadlines: 200 rounds (one bid and one watcher each) whose deadlines fall in the same second.

Times: bid→ack is the HTTP round trip of a bid (answered after its commit). A watcher is current
for a bid once it has a message at or after the bid's seq (a conflated state message stands for
the bids it replaced); commit→watcher runs from the bid's commit (the database's clock, read in its
transaction) to then. A close counts when the watcher receives it. CPU ms a bid: the user and system
CPU the server processes (and all of PostgreSQL's) used while the bids were placed and answered,
over the bids acknowledged, a figure other load on the machine does not move. --quick shrinks every
scenario.

Each table ends with what says whether a tail was the measurement's: the event-loop stalls the
marketplace's servers logged during the scenario (`marketplace.stalls`, with the garbage collection
in them) and the harness's own loop lag (its collector is off while it measures).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import bisect
import contextlib
import gc
import itertools
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

import asyncpg
import httpx
import msgspec
from litestar import Litestar, WebSocket, post, websocket
from litestar.channels import ChannelsPlugin
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from marketplace.accounts import service as accounts
from marketplace.accounts import store as account_store
from marketplace.accounts.model import OrganisationKind
from marketplace.cli import SERVER_OPTIONS, exit_normally_on_sigterm
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async
from marketplace.pubsub import RedisPubSub
from marketplace.stalls import STALL_MS
from marketplace.stripe_standin import process as stripe_standin
from rights import demo as rights_demo
from rights import service as rights
from rights.identity import Role

HTTP_CONNECTIONS = 200
USAGE = {"media": "online_ads", "territories": ["WORLD"], "term_months": 12, "start": "2027-01-01"}
DEADLINE_BIDDERS = 100  # buyers bidding once in each of the rounds closing together
SETTLE_SECONDS = 60  # how long every watcher may take to become current (then counted as never current)


# ---------------------------------------------------------------- the bare broadcast (the ceiling)


def bare_app() -> Litestar:
    """POST /bid/{run} publishes a numbered event; POST /close/{run}?at= publishes a "closed" event at
    epoch second `at` from an in-process timer; /ws/{run} relays every event of the run."""
    redis = Redis.from_url(os.environ["REDIS_URL"])
    counters: dict[str, itertools.count[int]] = {}
    timers: set[asyncio.Task[None]] = set()

    @post("/bid/{run:str}")
    async def bid(run: str, channels: ChannelsPlugin) -> dict[str, Any]:
        seq = next(counters.setdefault(run, itertools.count(1)))
        event = {"type": "event", "seq": seq, "at": time.time(), "event": {"kind": "bid"}}
        await channels.wait_published(event, f"bare:{run}")
        return event

    @post("/close/{run:str}")
    async def close(run: str, at: float, channels: ChannelsPlugin) -> dict[str, Any]:
        async def fire() -> None:
            await asyncio.sleep(at - time.time())
            seq = next(counters.setdefault(run, itertools.count(1)))
            event = {"type": "event", "seq": seq, "at": time.time(), "event": {"kind": "closed"}}
            await channels.wait_published(event, f"bare:{run}")

        timer = asyncio.create_task(fire())
        timers.add(timer)
        timer.add_done_callback(timers.discard)
        return {"deadline": at}

    @websocket("/ws/{run:str}")
    async def watch(socket: WebSocket[Any, Any, Any], run: str, channels: ChannelsPlugin) -> None:
        await socket.accept()
        async with channels.start_subscription(f"bare:{run}") as subscriber:
            await socket.send_json({"type": "round", "seq": 0})
            async with subscriber.run_in_background(socket.send_text):
                while (await socket.receive())["type"] != "websocket.disconnect":
                    pass

    channels = ChannelsPlugin(
        backend=RedisPubSub(redis=redis), arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000, subscriber_backlog_strategy="dropleft",
    )  # fmt: skip
    return Litestar(route_handlers=[bid, close, watch], plugins=[channels])


# ---------------------------------------------------------------- watchers


class Kind(msgspec.Struct):
    kind: str = ""


class Frame(msgspec.Struct):
    type: str
    seq: int | None = None
    event: Kind | None = None


@dataclass
class Crowd:
    """Sockets watching rounds: per socket, its round and the (seq, arrival time) of each event or
    state message, in arrival order (which is seq order)."""

    rounds: list[int]
    arrivals: list[list[tuple[int, float]]] = field(default_factory=list)
    closed: list[float | None] = field(default_factory=list)  # when each socket heard its round close
    gone: set[int] = field(default_factory=set)  # sockets dropped by the server or broken
    sockets: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    def current_at(self, socket: int, seq: int) -> float | None:
        """When the socket first had a message at or after event `seq`."""
        seen = self.arrivals[socket]
        i = bisect.bisect_left(seen, (seq, float("-inf")))
        return seen[i][1] if i < len(seen) else None

    def live(self) -> list[int]:
        return [s for s in range(len(self.rounds)) if s not in self.gone]

    async def until(self, done: Any) -> None:
        """Until `done()`, or `SETTLE_SECONDS` (the figures then count the sockets left behind)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            if done() or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    async def until_current(self, last: dict[int, int]) -> int:
        """Until every live socket has a message at or after the last seq of its round: how many never did."""

        def behind() -> list[int]:
            return [s for s in self.live() if self.current_at(s, last.get(self.rounds[s], 0)) is None]

        await self.until(lambda: not behind())
        return len(behind())

    async def close(self) -> None:
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)


async def gather_crowd(side: Side, round_ids: Sequence[str], rounds: list[int]) -> Crowd:
    """Socket i watches round_ids[rounds[i]] through the side; returns once each has its round frame."""
    crowd = Crowd(rounds=rounds, arrivals=[[] for _ in rounds], closed=[None for _ in rounds])
    decoder = msgspec.json.Decoder(Frame)
    ready = asyncio.Semaphore(0)

    async def watch(socket: ClientConnection, s: int) -> None:
        seen = crowd.arrivals[s]
        try:
            async for message in socket:
                frame = decoder.decode(message)
                if frame.type == "round":
                    ready.release()
                elif frame.type in ("event", "state") and frame.seq is not None:
                    now = time.time()
                    seen.append((frame.seq, now))
                    if frame.event is not None and frame.event.kind == "closed":
                        crowd.closed[s] = now
        except Exception:
            crowd.gone.add(s)

    for start in range(0, len(rounds), 100):  # a crowd arriving, not one SYN flood
        batch = range(start, min(len(rounds), start + 100))
        crowd.sockets += await asyncio.gather(
            *(connect(side.ws_url(round_ids[rounds[s]], s), additional_headers=side.headers(s),
                      max_queue=None, ping_interval=None, open_timeout=60) for s in batch)
        )  # fmt: skip
    crowd.readers = [asyncio.create_task(watch(socket, s)) for s, socket in enumerate(crowd.sockets)]
    for _ in rounds:
        await asyncio.wait_for(ready.acquire(), 120)
    return crowd


# ---------------------------------------------------------------- the two sides


@dataclass(frozen=True)
class Placed:
    """A bid's round (index) and round trip (ms); once acknowledged, its seq and commit time (epoch
    seconds). Refused (an error status, such as 503 after waiting 60 s for a database connection, or
    no answer within 120 s): no commit time."""

    round: int
    ack_ms: float
    seq: int = 0
    committed: float | None = None


def acked(placed: Sequence[Placed]) -> list[Placed]:
    return [bid for bid in placed if bid.committed is not None]


class Side(Protocol):
    name: str
    processes: dict[str, list[int]]  # "server": its server processes' ids, and others worth timing

    async def open_rounds(self, count: int, closing_at: float | None = None) -> list[tuple[str, float]]:
        """`count` rounds, open for an hour or closing at epoch second `closing_at`: (id, deadline)."""
        ...

    def ws_url(self, round_id: str, socket: int) -> str: ...

    def headers(self, socket: int) -> dict[str, str]: ...

    async def bid(self, client: httpx.AsyncClient, round_id: str, bidder: int) -> tuple[int, float]:
        """Bidder number `bidder` bids once: the bid's seq and commit time."""
        ...


@dataclass
class Buyer:
    organisation_id: UUID
    token: str


class Marketplace:
    name = "marketplace"

    def __init__(
        self, bases: list[str], buyers: list[Buyer], seller_token: str, track_id: UUID,
        processes: dict[str, list[int]],
    ) -> None:  # fmt: skip
        self.bases, self.buyers, self.seller_token, self.track_id = bases, buyers, seller_token, track_id
        self.processes = processes

    def base(self, i: int) -> str:
        return self.bases[i % len(self.bases)]

    async def open_rounds(self, count: int, closing_at: float | None = None) -> list[tuple[str, float]]:
        headers = {"Authorization": f"Bearer {self.seller_token}"}
        gate = asyncio.Semaphore(20)
        async with httpx.AsyncClient(headers=headers, timeout=120) as client:

            async def one(i: int) -> tuple[str, float]:
                async with gate:
                    duration = 3_600 if closing_at is None else await whole_seconds_until(closing_at)
                    params = {"mechanism": "vickrey", "reserve": {"amount": 100, "currency": "EUR"}}
                    body = {
                        "track_id": str(self.track_id), "usage": USAGE, "params": params,
                        "duration_seconds": duration,
                    }  # fmt: skip
                    response = await client.post(f"{self.base(i)}/api/rounds", json=body)
                    response.raise_for_status()
                    opened = response.json()
                    return opened["id"], datetime.fromisoformat(opened["deadline"]).timestamp()

            return list(await asyncio.gather(*(one(i) for i in range(count))))

    def ws_url(self, round_id: str, socket: int) -> str:
        return f"{self.base(socket).replace('http://', 'ws://')}/ws/rounds/{round_id}"

    def headers(self, socket: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.buyers[socket % len(self.buyers)].token}"}

    async def bid(self, client: httpx.AsyncClient, round_id: str, bidder: int) -> tuple[int, float]:
        response = await client.post(
            f"{self.base(bidder)}/api/rounds/{round_id}/bids",
            json={"amount": {"amount": 1_000 + bidder, "currency": "EUR"}},
            headers={"Authorization": f"Bearer {self.buyers[bidder].token}"},
        )
        response.raise_for_status()
        receipt = response.json()
        return receipt["seq"], datetime.fromisoformat(receipt["committed_at"]).timestamp()


async def whole_seconds_until(closing_at: float) -> int:
    """A duration in whole seconds (all a round takes) that ends in the second `closing_at` falls in:
    sent early in a second, so the server's reading of its clock is in the same second."""
    now = time.time()
    if now % 1 > 0.25:
        await asyncio.sleep(1 - now % 1)
        now = time.time()
    return max(1, int(closing_at) - int(now))


class Bare:
    name = "bare broadcast"

    def __init__(self, base: str, pid: int) -> None:
        self.base = base
        self.processes = {"server": [pid]}

    async def open_rounds(self, count: int, closing_at: float | None = None) -> list[tuple[str, float]]:
        runs = [secrets.token_hex(6) for _ in range(count)]
        if closing_at is None:
            return [(run, time.time() + 3_600) for run in runs]
        async with httpx.AsyncClient(base_url=self.base) as client:
            for run in runs:
                (await client.post(f"/close/{run}", params={"at": closing_at})).raise_for_status()
        return [(run, closing_at) for run in runs]

    def ws_url(self, round_id: str, socket: int) -> str:
        return f"{self.base.replace('http://', 'ws://')}/ws/{round_id}"

    def headers(self, socket: int) -> dict[str, str]:
        return {}

    async def bid(self, client: httpx.AsyncClient, round_id: str, bidder: int) -> tuple[int, float]:
        response = await client.post(f"{self.base}/bid/{round_id}")
        response.raise_for_status()
        event = response.json()
        return event["seq"], event["at"]


def http_client() -> httpx.AsyncClient:
    # uvicorn closes a connection idle for 5 s: let go of it first, never racing the server's close
    limits = httpx.Limits(
        max_connections=HTTP_CONNECTIONS, max_keepalive_connections=HTTP_CONNECTIONS, keepalive_expiry=2
    )
    return httpx.AsyncClient(limits=limits, timeout=120)


async def place(
    side: Side, client: httpx.AsyncClient, round_ids: list[str], round: int, bidder: int
) -> Placed:
    sent = time.perf_counter()
    try:
        seq, committed = await side.bid(client, round_ids[round], bidder)
    except httpx.HTTPError:  # an error status, or no answer within the client's 120 s
        return Placed(round, (time.perf_counter() - sent) * 1000)
    return Placed(round, (time.perf_counter() - sent) * 1000, seq, committed)


async def offered(rate: float, seconds: float, bid: Any) -> list[Placed]:
    """Open loop: bid(k) started at k / rate seconds whatever the answers before it, for `seconds`."""
    started, tasks = time.perf_counter(), []
    for k in range(round(rate * seconds)):
        await asyncio.sleep(max(0.0, started + k / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(bid(k)))
    return list(await asyncio.gather(*tasks))


def last_seqs(placed: list[Placed]) -> dict[int, int]:
    last: dict[int, int] = {}
    for bid in placed:
        last[bid.round] = max(last.get(bid.round, 0), bid.seq)
    return last


# ---------------------------------------------------------------- the scenarios


Figures = dict[str, float]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def with_children(parent: int) -> list[int]:
    """A PostgreSQL server's processes: the postmaster and its children (backends and workers)."""
    found = [parent]
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


class CpuMeter:
    """CPU milliseconds a bid per kind of process ("server", "PostgreSQL"), over the bids placed between
    making the meter and `per_bid`: a cost that a busy machine's waits do not change."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.before = {pid: cpu_seconds(pid) for pids in self.pids().values() for pid in pids}

    def pids(self) -> dict[str, list[int]]:
        return {
            kind: with_children(pids[0]) if kind == "PostgreSQL" else pids
            for kind, pids in self.side.processes.items()
        }

    def per_bid(self, bids: int) -> Figures:
        return {
            f"{kind} CPU ms a bid": sum(cpu_seconds(pid) - self.before.get(pid, 0.0) for pid in pids)
            * 1000 / max(bids, 1)
            for kind, pids in self.pids().items()
        }  # fmt: skip


async def burst(side: Side, n: int) -> Figures:
    """n watchers on one round, each bidding once, all at once."""
    ids = [round_id for round_id, _ in await side.open_rounds(1)]
    crowd = await gather_crowd(side, ids, [0] * n)
    async with http_client() as client:
        started = time.perf_counter()
        placed = acked(await asyncio.gather(*(place(side, client, ids, 0, i) for i in range(n))))
        elapsed = time.perf_counter() - started
    behind = await crowd.until_current(last_seqs(placed))
    await crowd.close()
    fan_out = [
        (max(t for s in crowd.live() if (t := crowd.current_at(s, bid.seq))) - (bid.committed or 0)) * 1000
        for bid in placed
        if not behind
    ]
    return {
        "sockets never current": behind,
        "acked bids/s": len(placed) / elapsed, **spread("bid→ack", [b.ack_ms for b in placed]),
        **spread("commit→every watcher", fan_out), "refused bids": n - len(placed),
        "dropped sockets": len(crowd.gone),
    }  # fmt: skip


async def hot(side: Side, watchers: int, at_once: int, rate: float, seconds: float) -> Figures:
    """One round, `watchers` sockets; `at_once` bids together, then `rate` bids/s for `seconds`."""
    ids = [round_id for round_id, _ in await side.open_rounds(1)]
    crowd = await gather_crowd(side, ids, [0] * watchers)
    async with http_client() as client:
        meter = CpuMeter(side)
        started = time.perf_counter()
        first = acked(await asyncio.gather(*(place(side, client, ids, 0, i) for i in range(at_once))))
        elapsed = time.perf_counter() - started
        cpu = {f"{name} (at once)": value for name, value in meter.per_bid(len(first)).items()}
        steady = acked(await offered(rate, seconds, lambda k: place(side, client, ids, 0, at_once + k)))
    last = max([*first, *steady], key=lambda bid: bid.seq)
    behind = await crowd.until_current({0: last.seq})
    await crowd.close()
    current = [
        (t - (last.committed or 0)) * 1000 for s in crowd.live() if (t := crowd.current_at(s, last.seq))
    ]
    return {
        "refused bids": at_once + round(rate * seconds) - len(first) - len(steady),
        "sockets never current": behind,
        "acked bids/s (at once)": len(first) / elapsed, **spread("bid→ack at once", [b.ack_ms for b in first]),
        **spread("bid→ack steady", [b.ack_ms for b in steady]),
        **spread("last bid→watcher current", current), "dropped sockets": len(crowd.gone), **cpu,
    }  # fmt: skip


async def many(side: Side, rounds: int, watchers: int, bidders: int, rate: float, seconds: float) -> Figures:
    """`rounds` rounds with `watchers` sockets each; `rate` bids/s offered for `seconds`.

    Bid k is bidder k mod `bidders` bidding in a round it has not bid in yet (a sealed round takes one
    bid per buyer), consecutive bids going to different rounds and each bidder bidding
    rate / bidders times a second (under the per-user limit)."""
    assert rate * seconds <= rounds * bidders, "more bids than (bidder, round) pairs"
    stride = max(1, rounds // bidders)
    ids = [round_id for round_id, _ in await side.open_rounds(rounds)]
    crowd = await gather_crowd(side, ids, [r for r in range(rounds) for _ in range(watchers)])
    async with http_client() as client:

        def bid(k: int) -> Any:
            bidder, turn = k % bidders, k // bidders
            return place(side, client, ids, (turn + bidder * stride) % rounds, bidder)

        meter = CpuMeter(side)
        started = time.perf_counter()
        placed = acked(await offered(rate, seconds, bid))
        elapsed = time.perf_counter() - started
        cpu = meter.per_bid(len(placed))
    behind = await crowd.until_current(last_seqs(placed))
    await crowd.close()
    by_round: dict[int, list[int]] = {}
    for s in crowd.live():
        by_round.setdefault(crowd.rounds[s], []).append(s)
    to_watcher = [
        (t - (bid.committed or 0)) * 1000
        for bid in placed
        for s in by_round.get(bid.round, [])
        if (t := crowd.current_at(s, bid.seq)) is not None
    ]
    return {
        "acked bids/s": len(placed) / elapsed, **spread("bid→ack", [b.ack_ms for b in placed]),
        **spread("commit→watcher", to_watcher), "refused bids": round(rate * seconds) - len(placed),
        "sockets never current": behind,
        "dropped sockets": len(crowd.gone), **cpu,
    }  # fmt: skip


async def deadlines(
    side: Side, rounds: int, lead: float, pool: asyncpg.Pool | None, redis_url: str | None = None
) -> Figures:
    """`rounds` rounds, one bid and one watcher each, all closing `lead` seconds from now. With the
    marketplace's database and Redis, also when each close was committed and published."""
    opened = await side.open_rounds(rounds, closing_at=time.time() + lead)
    ids = [round_id for round_id, _ in opened]
    crowd = await gather_crowd(side, ids, list(range(rounds)))
    published: dict[str, float] = {}
    overhearing = None if redis_url is None else asyncio.create_task(overhear_closes(redis_url, published))
    async with http_client() as client:
        await asyncio.gather(*(place(side, client, ids, r, r % DEADLINE_BIDDERS) for r in range(rounds)))
    to_spare = min(d for _, d in opened) - time.time()  # set up before the first deadline, or not
    await crowd.until(lambda: all(crowd.closed[s] is not None for s in crowd.live()))
    await crowd.close()
    if overhearing is not None:
        overhearing.cancel()
        await asyncio.gather(overhearing, return_exceptions=True)
    heard = [(at - opened[s][1]) * 1000 for s in crowd.live() if (at := crowd.closed[s]) is not None]
    figures = {
        "seconds to spare after set-up": to_spare,
        "deadlines spread ms": (max(d for _, d in opened) - min(d for _, d in opened)) * 1000,
        "closes never heard": len(crowd.live()) - len(heard),
        **spread("deadline→watcher hears the close", heard), "dropped sockets": len(crowd.gone),
    }  # fmt: skip
    if pool is not None:
        uuids = [UUID(round_id) for round_id in ids]
        late = await pool.fetch(
            """SELECT id, extract(epoch FROM closed_at - closes_at) * 1000 AS ms, extract(epoch FROM closed_at) AS at
                 FROM rounds WHERE id = ANY($1)""",
            uuids,
        )
        figures |= spread("deadline→close committed", [float(row["ms"]) for row in late])
        committed = {str(row["id"]): float(row["at"]) for row in late}
        told = [(at - committed[ids[s]]) * 1000 for s in crowd.live() if (at := crowd.closed[s]) is not None]
        figures |= spread("close committed→watcher hears it", told)
        # A stream asks PostgreSQL about a round still open to it 2 s after its close time: a close
        # heard that late was most likely never delivered by pub/sub.
        figures["closes heard over 1 s after their commit"] = sum(ms > 1_000 for ms in told)
        on_redis = [(published[i] - committed[i]) * 1000 for i in ids if i in published]
        figures |= spread("close committed→published on Redis", on_redis)
        figures["closes never published on Redis"] = len(ids) - len(on_redis)
        figures["rounds not closed exactly once"] = await pool.fetchval(
            """SELECT count(*) FROM unnest($1::uuid[]) AS r(id)
               WHERE (SELECT count(*) FROM round_events e WHERE e.round_id = r.id AND e.kind = 'closed') <> 1""",
            uuids,
        )
    return figures


async def overhear_closes(redis_url: str, published: dict[str, float]) -> None:
    """When each round's close event came through Redis, heard by a subscriber of the harness's own."""
    async with Redis.from_url(redis_url) as redis, redis.pubsub() as pubsub:
        await pubsub.psubscribe("round:*")
        async for message in pubsub.listen():
            if message["type"] == "pmessage" and b'"kind":"closed"' in message["data"]:
                published.setdefault(message["channel"].decode().removeprefix("round:"), time.time())


def spread(name: str, values: list[float]) -> Figures:
    if not values:
        return {}
    return {f"{name} p50 ms": pct(values, 0.5), f"{name} p99 ms": pct(values, 0.99)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- the marketplace's data


async def make_buyers(pool: asyncpg.Pool, n: int) -> list[Buyer]:
    """Buyers inserted directly (password hashing would dominate the set-up), each with an API token,
    a few at a time."""
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> Buyer:
        async with gate, pool.acquire() as conn:
            async with conn.transaction():
                organisation = await account_store.insert_organisation(
                    conn, f"Bench Buyer {i} {secrets.token_hex(3)}", OrganisationKind.AGENCY
                )
                user = await account_store.insert_user(
                    conn, organisation_id=organisation.id, email=f"bench-{uuid4().hex[:12]}@example.test",
                    display_name=f"Bidder {i}", role=Role.BUYER, password_hash="unusable",
                )  # fmt: skip
            issued = await accounts.issue_token(conn, account_store.principal_of(user), "benchmark")
            return Buyer(organisation_id=organisation.id, token=issued.token)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


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


# ---------------------------------------------------------------- processes and reporting


def start(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """In its own process group, stopped whole with whatever it started there; its log to `log`."""
    with contextlib.ExitStack() as opened:
        stderr = subprocess.DEVNULL if log is None else opened.enter_context(log.open("ab"))
        return subprocess.Popen(
            [sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip


class Stall(msgspec.Struct):
    time: datetime
    stalled_ms: float
    gc_ms: float
    gc_generation: int


def server_stalls(logs: Sequence[Path], since: float, until: float) -> Figures:
    """The event-loop stalls the marketplace's servers logged (`marketplace.stalls`) in a scenario."""
    decoder = msgspec.json.Decoder(Stall)
    stalls = []
    for log in logs:
        for line in log.read_bytes().splitlines():
            if b'"logger":"marketplace.stalls"' in line:
                stall = decoder.decode(line)
                if since <= stall.time.timestamp() <= until:
                    stalls.append(stall)
    longest = max(stalls, key=lambda stall: stall.stalled_ms, default=None)
    return {
        f"server loop stalls ≥ {STALL_MS:g} ms": len(stalls),
        "server longest stall ms": 0.0 if longest is None else longest.stalled_ms,
        "of which garbage collection ms": 0.0 if longest is None else longest.gc_ms,
        "server stalls in a young collection": sum(stall.gc_generation in (0, 1) for stall in stalls),
        "server stalls in a full collection": sum(stall.gc_generation == 2 for stall in stalls),
    }


async def measured(scenario: Awaitable[Figures], logs: Sequence[Path] = ()) -> Figures:
    """A scenario's figures, with the harness's own event-loop lag meanwhile and the stalls the
    servers writing `logs` logged. The harness's garbage collector stays off during the scenario: with
    two thousand client sockets a full collection stalled it for hundreds of milliseconds, which it
    would have counted against the server."""
    lags: list[float] = []

    async def look() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - before - 0.01) * 1000)

    gc.collect()
    gc.disable()
    since = time.time()
    looking = asyncio.create_task(look())
    try:
        figures = await scenario
    finally:
        looking.cancel()
        gc.enable()
    if logs:
        figures |= server_stalls(logs, since, time.time())
    return figures | spread("harness loop lag", lags)


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


def free_port() -> int:
    """A port nothing listens on now (other runs on the same machine use others)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def raise_file_limit() -> None:
    """Thousands of sockets on both ends: as many descriptors as the system allows (inherited by the
    server processes started after)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(frozen=True)
class Sizes:
    burst: tuple[int, ...]
    hot: tuple[int, int, float, float]  # watchers, bidders at once, bids/s, seconds
    many: tuple[int, int, int, float, float]  # rounds, watchers each, bidders, bids/s, seconds
    deadlines: tuple[int, float]  # rounds, seconds until their deadline

    def buyers(self, scenarios: list[str]) -> int:
        """Buyers enough for every bidder to be a different one where a round needs it (a sealed
        round takes one bid per buyer); sockets reuse their tokens."""
        watchers, at_once, rate, seconds = self.hot
        needs = {
            "burst": max(self.burst), "hot": max(watchers, at_once + round(rate * seconds)),
            "many": self.many[2], "deadlines": DEADLINE_BIDDERS,
        }  # fmt: skip
        return max(needs[scenario] for scenario in scenarios)

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                burst=(100, 250), hot=(300, 50, 10, 10), many=(50, 10, 100, 50, 15), deadlines=(50, 20)
            )
        return cls(
            burst=(100, 500, 1_000),
            hot=(1_000, 100, 10, 30),
            many=(200, 10, 100, 200, 60),
            deadlines=(200, 40),
        )


async def run_scenarios(
    scenarios: list[str],
    sizes: Sizes,
    ours: Marketplace,
    bare: Bare,
    pool: asyncpg.Pool,
    redis_url: str,
    logs: Sequence[Path],
) -> list[tuple[str, Figures, Figures]]:
    """Each scenario on the marketplace (whose servers log to `logs`), then on the bare broadcast."""
    results = []

    async def on_both(title: str, run: Callable[[Side], Awaitable[Figures]]) -> None:
        results.append((title, await measured(run(ours), logs), await measured(run(bare))))

    async def closing(side: Side) -> Figures:
        if side is ours:  # the marketplace's closes are also read from its database and Redis
            return await deadlines(side, *sizes.deadlines, pool, redis_url)
        return await deadlines(side, *sizes.deadlines, None)

    for scenario in scenarios:
        if scenario == "burst":
            for n in sizes.burst:
                await on_both(f"burst, {n:,} bidders", lambda side, n=n: burst(side, n))
        elif scenario == "hot":
            title = "hot round: {:,} watchers, {} at once, then {} bids/s for {} s".format(*sizes.hot)
            await on_both(title, lambda side: hot(side, *sizes.hot))
        elif scenario == "many":
            rounds, watchers, bidders, rate, seconds = sizes.many
            title = (
                f"many rounds: {rounds} rounds × {watchers} watchers, {rate:g} bids/s for {seconds:g} s "
                f"from {bidders} buyers"
            )
            await on_both(title, lambda side: many(side, *sizes.many))
        elif scenario == "deadlines":
            await on_both(f"deadlines: {sizes.deadlines[0]} rounds closing in the same second", closing)
    return results


def stop_cleanly_on_sigterm(prefix: str) -> str:
    """A new data dir for this run, removed at exit; and, stopped (by `timeout`, say), the run is
    cancelled as on Ctrl-C, so that it stops the servers and stores it started (the default SIGTERM
    ends the process without its exit hooks, leaving the embedded PostgreSQL and Redis running)."""
    this_run = asyncio.current_task()
    assert this_run is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this_run.cancel)
    data_dir = tempfile.mkdtemp(prefix=prefix)
    # Registered before the stores are joined, so it runs after they are released.
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    return data_dir


async def main(scenarios: list[str], quick: bool, servers: int) -> None:
    raise_file_limit()
    data_dir = stop_cleanly_on_sigterm("live-rounds-bench-")
    sizes = Sizes.of(quick)
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
    our_ports = [str(free_port()) for _ in range(servers)]
    bare_port = str(free_port())
    logs = [Path(data_dir) / f"server-{port}.log" for port in our_ports]
    processes = [
        *(
            start(["benchmarks.live_rounds", "--serve", "marketplace.app:create_app", port], env, log)
            for port, log in zip(our_ports, logs, strict=True)
        ),
        start(["marketplace.cli", "worker"], env),
        start(["benchmarks.live_rounds", "--serve", "benchmarks.live_rounds:bare_app", bare_port], env),
    ]
    pool = await create_pool(urls.database_url)
    try:
        bases = [f"http://127.0.0.1:{port}" for port in our_ports]
        for base in bases:
            await until_up(base, "GET", "/health")
        bare = Bare(f"http://127.0.0.1:{bare_port}", processes[-1].pid)
        await until_up(bare.base, "POST", "/bid/warmup")
        buyers = await make_buyers(pool, sizes.buyers(scenarios))
        postmaster = int((Path(data_dir) / "postgres" / "postmaster.pid").read_text().split()[0])
        timed = {"server": [process.pid for process in processes[:servers]], "PostgreSQL": [postmaster]}
        ours = Marketplace(bases, buyers, *await make_seller(pool), processes=timed)
        results = await run_scenarios(scenarios, sizes, ours, bare, pool, urls.redis_url, logs)
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
    for title, ours_figures, bare_figures in results:
        print_table(title, ours_figures, bare_figures)


def print_table(title: str, ours: Figures, bare: Figures) -> None:
    print(
        f"{title}\n\n| figure | marketplace | bare broadcast | marketplace ÷ bare |\n| --- | ---: | ---: | ---: |"
    )
    for name, value in ours.items():
        other = bare.get(name)
        ratio = f"{value / other:.2f}" if other else ""
        shown = "" if other is None else f"{other:,.1f}"
        print(f"| {name} | {value:,.1f} | {shown} | {ratio} |")
    print()


def serve(factory: str, port: int) -> None:
    """One server process, with the marketplace's server options (uvloop, httptools, no deflate)."""
    import uvicorn

    exit_normally_on_sigterm()
    uvicorn.run(factory, factory=True, host="127.0.0.1", port=port, access_log=False, **SERVER_OPTIONS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", choices=["burst", "hot", "many", "deadlines", "all"], default="all",
        help="which load to run (all: each in turn)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smaller and shorter runs of each scenario")
    parser.add_argument(
        "--servers", type=int, default=1, help="marketplace server processes; clients are spread over them"
    )
    parser.add_argument("--serve", nargs=2, metavar=("FACTORY", "PORT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve[0], int(arguments.serve[1]))
        sys.exit(0)
    chosen = ["burst", "hot", "many", "deadlines"] if arguments.scenario == "all" else [arguments.scenario]
    asyncio.run(main(chosen, arguments.quick, arguments.servers))
