"""One watcher's websocket on a round: missed events replayed from PostgreSQL, then live ones from Channels.

Events are numbered per round. The stream remembers the last number it passed on, drops repeats,
and fills any gap (Redis pub/sub loses messages during a reconnect; a full backlog drops the
oldest) from PostgreSQL, so a watcher sees every event it may see exactly once and in order.
A socket that cannot take a frame within `SEND_TIMEOUT` seconds is closed; the page reconnects
with `after=<last seq>` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import WebSocket
from litestar.channels import ChannelsPlugin

from auction import service
from auction.live import Frame, RoundEvent
from auction.views import Audience, audience, shown
from rights.identity import Principal

log = logging.getLogger("auction.stream")

SEND_TIMEOUT = 5.0
TOO_SLOW = 1013  # "try again later": the page reconnects with after=<last seq>
FRESH_FOR = 0.5  # seconds a shared frame's server_time stays close enough to now to reuse it


class SharedFrames:
    """Each published event decoded once per process, and each of its views encoded once for every
    socket in the same audience: with a thousand watchers, fan-out is then a thousand sends of the
    same bytes instead of a thousand decodes and encodes."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.events: OrderedDict[bytes, RoundEvent] = OrderedDict()
        self.frames: OrderedDict[tuple[UUID, int, Audience], tuple[float, bytes | None]] = OrderedDict()

    def event(self, data: bytes) -> RoundEvent:
        found = self.events.get(data)
        if found is None:
            found = self.events[data] = msgspec.json.decode(data, type=RoundEvent)
            _trim(self.events, self.size)
        return found

    def frame(self, event: RoundEvent, to: Audience) -> bytes | None:
        key = (event.round_id, event.seq, to)
        now = time.monotonic()
        cached = self.frames.get(key)
        if cached is not None and now - cached[0] < FRESH_FOR:
            return cached[1]
        seen = shown(event, to)
        encoded = None
        if seen is not None:
            frame = Frame(
                type="event", server_time=server_time(), seq=seen.seq, event=seen.payload, at=seen.at
            )
            encoded = msgspec.json.encode(frame)
        self.frames[key] = (now, encoded)
        _trim(self.frames, self.size)
        return encoded


def _trim(cache: OrderedDict[Any, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


shared = SharedFrames()


class Ping(msgspec.Struct, frozen=True, tag_field="type", tag="ping"):
    """The one frame a watcher may send, answered with the server's time and the last seq sent."""


def server_time() -> datetime:
    return datetime.now(UTC)


class RoundStream:
    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        pool: asyncpg.Pool,
        watcher: Principal,
        seller: UUID,
        round_id: UUID,
    ) -> None:
        self.socket = socket
        self.pool = pool
        self.watcher = watcher
        self.seller = seller
        self.round_id = round_id
        self.last_seq = 0

    async def run(self, channels: ChannelsPlugin, after: int) -> None:
        """Subscribe first, then replay, so nothing committed in between is missed."""
        async with channels.start_subscription(service.channel(self.round_id)) as subscriber:
            async with self.pool.acquire() as conn:
                view, missed = await service.watch(conn, self.watcher, self.round_id, after)
            await self.send(Frame(type="round", server_time=server_time(), seq=view.seq, round=view))
            for event in missed:
                await self.send_event(event)
            self.last_seq = max(after, view.seq)
            async with subscriber.run_in_background(self.on_live, join=False):
                await self.answer_frames()

    async def answer_frames(self) -> None:
        while True:
            message: dict[str, Any] = dict(await self.socket.receive())
            if message["type"] == "websocket.disconnect":
                return
            text: str | bytes = message.get("text") or message.get("bytes") or b""
            try:
                msgspec.json.decode(text, type=Ping)
            except msgspec.DecodeError as exc:
                await self.send(
                    Frame(type="error", server_time=server_time(), detail=f"unreadable frame: {exc}")
                )
                continue
            await self.send(Frame(type="pong", server_time=server_time(), seq=self.last_seq))

    async def on_live(self, data: bytes) -> None:
        try:
            event = shared.event(data)
            if event.seq <= self.last_seq:
                return
            if event.seq > self.last_seq + 1:
                async with self.pool.acquire() as conn:
                    missed = await service.events_between(
                        conn, self.watcher, self.seller, self.round_id, self.last_seq, event.seq - 1
                    )
                for earlier in missed:
                    await self.send_event(earlier)
            await self.send_event(event)
        except (TimeoutError, OSError, RuntimeError):
            log.info("dropping a slow or gone watcher", extra={"round_id": str(self.round_id)})
            with contextlib.suppress(Exception):
                await self.socket.close(TOO_SLOW, f"too slow: reconnect with after={self.last_seq}")

    async def send_event(self, event: RoundEvent) -> None:
        encoded = shared.frame(event, audience(event, self.seller, self.watcher))
        if encoded is not None:
            await self.send_bytes(encoded)
        self.last_seq = event.seq

    async def send(self, frame: Frame) -> None:
        await self.send_bytes(msgspec.json.encode(frame))

    async def send_bytes(self, encoded: bytes) -> None:
        await asyncio.wait_for(self.socket.send_text(encoded), SEND_TIMEOUT)
