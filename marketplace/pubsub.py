"""The Channels backend every server process uses: Redis pub/sub, with its first subscribe made alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis


class RedisPubSub(RedisChannelsPubSubBackend):
    """redis-py's pub/sub opens its connection on the first subscribe, and every subscribe racing that
    one opens a connection of its own and loses it to the last: a crowd of sockets arriving at once
    left some rounds (and sign-out announcements) subscribed on a connection nobody reads. The first
    subscribe goes alone; the rest share the connection it opened."""

    def __init__(self, *, redis: Redis) -> None:
        super().__init__(redis=redis)
        self._connecting = asyncio.Lock()
        self._connected = False

    async def subscribe(self, channels: Iterable[str]) -> None:
        if not self._connected:
            async with self._connecting:
                await super().subscribe(channels)
                self._connected = True
                return
        await super().subscribe(channels)
