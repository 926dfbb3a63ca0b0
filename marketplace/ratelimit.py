"""Rate limits in Redis: fixed windows declared per handler (`opt={"rate_limit": "<bucket>"}`) and failure counts."""

from __future__ import annotations

import time

from redis.asyncio import Redis


async def seconds_until_allowed(redis: Redis, key: str, limit: int, window_seconds: int) -> int:
    """0 when this attempt is within the limit, else how many seconds until the window resets."""
    window = int(time.time()) // window_seconds
    bucket = f"ratelimit:{key}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(bucket)
        pipe.expire(bucket, window_seconds + 1)
        count, _ = await pipe.execute()
    if count <= limit:
        return 0
    return max(1, (window + 1) * window_seconds - int(time.time()))


async def seconds_blocked(redis: Redis, key: str, limit: int) -> int:
    """0 while fewer than `limit` failures are counted under `key`, else seconds until they are forgotten."""
    raw = await redis.get(f"failures:{key}")
    if raw is None or int(raw) < limit:
        return 0
    return max(1, int(await redis.ttl(f"failures:{key}")))


async def count_failure(redis: Redis, key: str, window_seconds: int) -> None:
    """Count one failure; the count is forgotten `window_seconds` after the first of the window."""
    async with redis.pipeline(transaction=True) as pipe:
        # The window starts at the first failure; INCR keeps the expiry SET gave it (Redis 6 has no EXPIRE NX).
        pipe.set(f"failures:{key}", 0, ex=window_seconds, nx=True)
        pipe.incr(f"failures:{key}")
        await pipe.execute()


async def forget_failures(redis: Redis, key: str) -> None:
    await redis.delete(f"failures:{key}")
