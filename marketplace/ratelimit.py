"""Fixed-window rate limits in Redis, declared per handler with `opt={"rate_limit": "<bucket>"}`."""

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
