"""How many sockets watch each round, across every server process, kept in Redis with expiry.

Each socket is a member of its round's sorted set `round:{id}:watchers`, scored by when it expires.
One task per process adds the sockets that joined, removes those that left and reads each round's
total in one pipeline: every `REFRESH` seconds, and `GATHER` seconds after a local join or leave
(so a crowd arriving costs one round trip, not one each). Every `RENEW` seconds it also moves on
the expiry of all its sockets (not every second: with thousands of sockets that was most of the
pipeline). A process that dies stops renewing and its sockets expire `EXPIRES` seconds later. When a round's total changes, the
process tells its own sockets on that round, which send it as state (conflated like a bid count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from uuid import UUID

from redis.asyncio import Redis

log = logging.getLogger("auction.presence")

REFRESH = 1.0
GATHER = 0.2
RENEW = 5.0
EXPIRES = 15


def key(round_id: UUID) -> str:
    return f"round:{round_id}:watchers"


class Presence:
    """This process's sockets per round, and the last totals read from Redis."""

    def __init__(self) -> None:
        self.local: dict[UUID, dict[str, Callable[[int], None]]] = {}
        self.left: dict[UUID, set[str]] = {}
        self.joined: dict[UUID, set[str]] = {}  # sockets not yet added in Redis
        self.renewed: dict[UUID, float] = {}  # when each round's members' expiry was last moved on
        self.totals: dict[UUID, int] = {}
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def join(self, redis: Redis, round_id: UUID, member: str, told: Callable[[int], None]) -> int:
        """Count `member` as watching `round_id`; `told(total)` hears each new total. Returns the
        total as this process knows it now, the newcomer included."""
        self.local.setdefault(round_id, {})[member] = told
        self.joined.setdefault(round_id, set()).add(member)
        self.totals[round_id] = self.totals.get(round_id, 0) + 1
        self.changed.set()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.keep(redis))
        return self.totals[round_id]

    def leave(self, round_id: UUID, member: str) -> None:
        members = self.local.get(round_id, {})
        if members.pop(member, None) is None:
            return
        if not members:
            del self.local[round_id]
        self.left.setdefault(round_id, set()).add(member)
        self.changed.set()

    async def keep(self, redis: Redis) -> None:
        """Refresh and read until this process has no socket left (and has said so to Redis)."""
        while True:
            try:
                await self.sync(redis)
            except Exception:  # Redis away: the counts wait, the sockets stay
                log.warning("could not refresh the watcher counts", exc_info=True)
            if not self.local and not self.left:
                self.task = None
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), REFRESH)
            await asyncio.sleep(GATHER)  # let a crowd arriving or leaving share one round trip
            self.changed.clear()

    async def sync(self, redis: Redis) -> None:
        now = time.time()
        left, self.left = self.left, {}
        joined, self.joined = self.joined, {}
        totals_at: dict[UUID, int] = {}  # where each round's count is among the pipeline's results
        counted = {round_id: set(members) for round_id, members in self.local.items()}
        async with redis.pipeline(transaction=False) as pipe:
            for round_id in self.local.keys() | left.keys():
                if gone := left.get(round_id):
                    pipe.zrem(key(round_id), *gone)
                members = self.local.get(round_id, {})
                if members and now - self.renewed.get(round_id, float("-inf")) >= RENEW:
                    self.renewed[round_id] = now
                    pipe.zadd(key(round_id), dict.fromkeys(members, now + EXPIRES))
                    pipe.expire(key(round_id), EXPIRES)
                elif new := joined.get(round_id, set()) & members.keys():
                    pipe.zadd(key(round_id), dict.fromkeys(new, now + EXPIRES))
                    pipe.expire(key(round_id), EXPIRES)
                elif not members:
                    self.renewed.pop(round_id, None)
                pipe.zremrangebyscore(key(round_id), "-inf", now)
                totals_at[round_id] = len(pipe.command_stack)
                pipe.zcard(key(round_id))
            results = await pipe.execute()
        for round_id, at in totals_at.items():
            self.tell(round_id, int(results[at]), counted.get(round_id, set()))

    def tell(self, round_id: UUID, total: int, counted: set[str]) -> None:
        """Each socket of this process that the total counted hears it (and ignores one it knew);
        one that joined while Redis was being asked hears the next."""
        members = self.local.get(round_id)
        if not members:
            self.totals.pop(round_id, None)
            return
        self.totals[round_id] = total + len(members.keys() - counted)
        # Sockets on one round share their hub's callback: each distinct one is told once.
        for told in {told for member, told in members.items() if member in counted}:
            told(total)


presence = Presence()
