"""Worker liveness: every worker stamps Redis every couple of seconds; servers read the newest stamp.

Stamps use Redis's clock, so a worker and a server on different machines agree on how old a stamp is.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

log = logging.getLogger("marketplace.heartbeat")

HEARTBEATS = "marketplace:worker-heartbeats"
BEAT_EVERY_SECONDS = 2.0
SILENT_AFTER_SECONDS = 10.0
_FORGET_AFTER_SECONDS = 3600.0


async def _redis_now(redis: Redis) -> float:
    seconds, microseconds = await redis.time()
    return float(seconds) + float(microseconds) / 1_000_000


async def beat(redis: Redis, worker_id: str) -> None:
    """Record that `worker_id` is alive now, and forget workers long gone."""
    now = await _redis_now(redis)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(HEARTBEATS, {worker_id: now})
        pipe.zremrangebyscore(HEARTBEATS, "-inf", now - _FORGET_AFTER_SECONDS)
        await pipe.execute()


async def beat_forever(redis: Redis, worker_id: str) -> None:
    while True:
        try:
            await beat(redis, worker_id)
        except Exception:  # Redis away for a moment: the next beat tries again; health shows the gap
            log.warning("could not write the worker heartbeat", exc_info=True)
        await asyncio.sleep(BEAT_EVERY_SECONDS)


async def seconds_since_a_worker_was_seen(redis: Redis) -> float | None:
    """How long ago the most recent heartbeat of any worker was written; None if none ever was."""
    newest = await redis.zrange(HEARTBEATS, -1, -1, withscores=True)
    if not newest:
        return None
    return max(0.0, await _redis_now(redis) - float(newest[0][1]))


def worker_alive(seconds_since_seen: float | None) -> bool:
    return seconds_since_seen is not None and seconds_since_seen <= SILENT_AFTER_SECONDS
