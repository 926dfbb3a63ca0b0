"""Rate limits in Redis: fixed windows declared per handler (`opt={"rate_limit": "<bucket>"}`) and failure counts."""

from __future__ import annotations

import hashlib
import time

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# INCR, and EXPIRE on the window's first attempt, as one command: a pipeline (MULTI, INCR, EXPIRE, EXEC)
# cost every bid four commands' packing and parsing and a pool lock on the server's busiest path.
_COUNT_ATTEMPT = """local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count"""
_COUNT_ATTEMPT_SHA = hashlib.sha1(_COUNT_ATTEMPT.encode()).hexdigest()  # noqa: S324 - how Redis names scripts


async def seconds_until_allowed(redis: Redis, key: str, limit: int, window_seconds: int) -> int:
    """0 when this attempt is within the limit, else how many seconds until the window resets."""
    window = int(time.time()) // window_seconds
    bucket = f"ratelimit:{key}:{window}"
    try:
        count = await redis.evalsha(_COUNT_ATTEMPT_SHA, 1, bucket, str(window_seconds + 1))  # type: ignore[misc]
    except NoScriptError:  # the first call since Redis started: EVAL caches the script under its SHA
        count = await redis.eval(_COUNT_ATTEMPT, 1, bucket, str(window_seconds + 1))  # type: ignore[misc]
    if int(count) <= limit:
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
