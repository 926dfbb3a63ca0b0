"""Round and negotiation endpoints, and the websocket that streams a round's events.

The websocket: missed events are replayed from PostgreSQL, then live ones come from Channels.
Events are numbered per round. Each stream remembers the last number it passed on, drops repeats,
holds an early event briefly for those before it (publishes race each other after their commits),
and fills a gap still open then (Redis pub/sub loses messages during a reconnect; a full backlog
drops the oldest) from PostgreSQL. Each watcher then gets, through its `auction.conflation.Outbox`, every
event it must see exactly once and in order, and state (bid count, time left, watchers across all
server processes from `auction.presence`, a descending clock's price) at most every 150 ms, the
newest replacing the unsent. A socket that cannot take a frame within `SEND_TIMEOUT` seconds, or
with too many events unsent, is closed (1013); the page reconnects with `after=<last seq>` and
loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Controller, WebSocket, get, post, websocket
from litestar.channels import ChannelsPlugin
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler
from redis.asyncio import Redis

from auction import conflation, service
from auction.conflation import Outbox, Outgoing, Standing, is_state
from auction.live import (
    BidReceipt,
    ClockReceipt,
    Frame,
    MyBid,
    NegotiationView,
    NewRound,
    RoundEvent,
    RoundView,
)
from auction.model import OfferLimits, RoundState
from auction.presence import presence
from auction.service import Move, Relay
from auction.views import Audience, audience, shown
from rights.identity import Principal
from rights.pooling import Connect
from rights.terms import Money

log = logging.getLogger("auction.api")

SEND_TIMEOUT = 5.0
TOO_SLOW = 1013  # "try again later": the page reconnects with after=<last seq>
FRESH_FOR = 0.5  # seconds a shared frame's server_time stays close enough to now to reuse it
OVERDUE = 2.0  # seconds past a round's close with no close heard before PostgreSQL is asked
LATEST_SEQ = 2**31 - 1
REORDER_WAIT = 0.2  # seconds an early event waits for those before it before they are read from PostgreSQL

BUYERS = {"roles": ["buyer"], "rate_limit": "bids"}
PARTIES = {"roles": ["buyer", "rights_holder"], "rate_limit": "bids"}
UNAUTHENTICATED = 4401
UNKNOWN_ROUND = 4404


class NewBid(msgspec.Struct, frozen=True, kw_only=True):
    """A sealed bid; send your own `bid_id` to make a retry safe (a repeat is refused with 409)."""

    amount: Money
    bid_id: UUID | None = None


class NewCommitment(msgspec.Struct, frozen=True, kw_only=True):
    """The SHA-256 digest of "<amount>|<currency>|<nonce>|<your organisation id>|<round id>"."""

    digest: str
    bid_id: UUID | None = None


class NewReveal(msgspec.Struct, frozen=True, kw_only=True):
    bid_id: UUID
    amount: Money
    nonce: str


class NewOffer(msgspec.Struct, frozen=True, kw_only=True):
    amount: Money


def relay(channels: ChannelsPlugin, jobs: ArqRedis) -> Relay:
    return Relay(publish=lambda name, data: channels.wait_published(data, name), jobs=jobs)


class RoundController(Controller):
    path = "/api/rounds"
    tags: Sequence[str] | None = ("rounds",)

    @get("/")
    async def list_rounds(
        self,
        conn: asyncpg.Connection,
        optional_caller: Principal | None,
        round_state: Annotated[RoundState | None, QueryParameter(name="state")] = None,
        mine: Annotated[bool, Parameter(description="only rounds on the caller's own tracks")] = False,
    ) -> list[RoundView]:
        return await service.list_rounds(conn, optional_caller, state=round_state, mine=mine)

    @post("/", status_code=HTTP_201_CREATED, opt={"roles": ["rights_holder"]})
    async def open_round(
        self,
        connect: Connect,
        caller: Principal,
        channels: ChannelsPlugin,
        jobs: ArqRedis,
        data: NewRound,
    ) -> RoundView:
        return await service.open_round(connect, relay(channels, jobs), caller, data)

    @get("/{round_id:uuid}")
    async def get_round(
        self, conn: asyncpg.Connection, optional_caller: Principal | None, round_id: UUID
    ) -> RoundView:
        return await service.get_round(conn, optional_caller, round_id)

    @get("/{round_id:uuid}/events")
    async def events(
        self,
        conn: asyncpg.Connection,
        caller: Principal,
        round_id: UUID,
        after: Annotated[int, Parameter(ge=0, le=2**31 - 1)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=5000)] = 500,
    ) -> list[RoundEvent]:
        return await service.round_events(conn, caller, round_id, after, limit)

    @post("/{round_id:uuid}/bids", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def place_bid(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewBid,
    ) -> BidReceipt:  # fmt: skip
        return await service.place_bid(
            connect, relay(channels, jobs), caller, round_id, data.amount, data.bid_id
        )

    @get("/{round_id:uuid}/bids/mine")
    async def my_bids(self, conn: asyncpg.Connection, caller: Principal, round_id: UUID) -> list[MyBid]:
        return await service.my_bids(conn, caller, round_id)

    @post("/{round_id:uuid}/commitments", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def commit_bid(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewCommitment,
    ) -> BidReceipt:  # fmt: skip
        return await service.commit_bid(
            connect, relay(channels, jobs), caller, round_id, data.digest, data.bid_id
        )

    @post("/{round_id:uuid}/reveals", status_code=HTTP_200_OK, opt=BUYERS)
    async def reveal_bid(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewReveal,
    ) -> BidReceipt:  # fmt: skip
        return await service.reveal_bid(
            connect, relay(channels, jobs), caller, round_id, data.bid_id, data.amount, data.nonce
        )

    @post("/{round_id:uuid}/accept", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def accept_clock(
        self,
        connect: Connect,
        caller: Principal,
        channels: ChannelsPlugin,
        jobs: ArqRedis,
        round_id: UUID,
    ) -> ClockReceipt:
        return await service.accept_clock(connect, relay(channels, jobs), caller, round_id)

    @post("/{round_id:uuid}/negotiations", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def start_negotiation(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        offer_limits: OfferLimits, round_id: UUID, data: NewOffer,
    ) -> NegotiationView:  # fmt: skip
        """Make an opening offer. The rights holder's range is never stated: an offer under its floor is
        refused (after a few such refusals the buyer waits, 429), one at or above its ceiling concludes at
        the ceiling."""
        return await service.start_negotiation(
            connect, relay(channels, jobs), caller, round_id, data.amount, offer_limits
        )

    @get("/{round_id:uuid}/negotiations")
    async def negotiations(
        self, conn: asyncpg.Connection, caller: Principal, round_id: UUID
    ) -> list[NegotiationView]:
        return await service.negotiations(conn, caller, round_id)


class NegotiationController(Controller):
    path = "/api/negotiations"
    tags: Sequence[str] | None = ("rounds",)

    @get("/{negotiation_id:uuid}")
    async def get_negotiation(
        self, conn: asyncpg.Connection, caller: Principal, negotiation_id: UUID
    ) -> NegotiationView:
        return await service.get_negotiation(conn, caller, negotiation_id)

    @post("/{negotiation_id:uuid}/counter", status_code=HTTP_200_OK, opt=PARTIES)
    async def counter(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        offer_limits: OfferLimits, negotiation_id: UUID, data: NewOffer,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(
            connect, relay(channels, jobs), caller, negotiation_id, Move.COUNTER, data.amount, offer_limits
        )

    @post("/{negotiation_id:uuid}/accept", status_code=HTTP_200_OK, opt=PARTIES)
    async def accept(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(connect, relay(channels, jobs), caller, negotiation_id, Move.ACCEPT)

    @post("/{negotiation_id:uuid}/reject", status_code=HTTP_200_OK, opt=PARTIES)
    async def reject(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(connect, relay(channels, jobs), caller, negotiation_id, Move.REJECT)

    @post("/{negotiation_id:uuid}/withdraw", status_code=HTTP_200_OK, opt=PARTIES)
    async def withdraw(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(connect, relay(channels, jobs), caller, negotiation_id, Move.WITHDRAW)


# ---------------------------------------------------------------- the websocket


class SharedFrames:
    """Each published event decoded once per process, and each of its views shown and encoded once for
    every socket in the same audience: with a thousand watchers, fan-out is then a thousand sends of
    the same bytes instead of a thousand decodes and encodes."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.events: OrderedDict[bytes, RoundEvent] = OrderedDict()
        self.frames: OrderedDict[tuple[UUID, int, Audience], tuple[float, RoundEvent | None, bytes]] = (
            OrderedDict()
        )

    def event(self, data: bytes) -> RoundEvent:
        found = self.events.get(data)
        if found is None:
            found = self.events[data] = msgspec.json.decode(data, type=RoundEvent)
            _trim(self.events, self.size)
        return found

    def seen(self, event: RoundEvent, to: Audience) -> RoundEvent | None:
        return self._cached(event, to)[1]

    def frame(self, event: RoundEvent, to: Audience) -> bytes:
        """The event frame of `event` as shown to `to` (which must see it)."""
        return self._cached(event, to)[2]

    def _cached(self, event: RoundEvent, to: Audience) -> tuple[float, RoundEvent | None, bytes]:
        key = (event.round_id, event.seq, to)
        now = time.monotonic()
        cached = self.frames.get(key)
        if cached is not None and now - cached[0] < FRESH_FOR:
            return cached
        seen = shown(event, to)
        encoded = b""
        if seen is not None:
            encoded = msgspec.json.encode(event_frame(seen))
        cached = self.frames[key] = (now, seen, encoded)
        _trim(self.frames, self.size)
        return cached


def event_frame(seen: RoundEvent) -> Frame:
    return Frame(type="event", server_time=server_time(), seq=seen.seq, event=seen.payload, at=seen.at)


def _trim(cache: OrderedDict[Any, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


shared = SharedFrames()


class SharedGaps:
    """Events missing from pub/sub read from PostgreSQL once per process for all the sockets on a
    round that miss the same ones (they saw the same publishes): one read, not one per watcher."""

    def __init__(self) -> None:
        self.reading: dict[tuple[UUID, int, int], asyncio.Task[list[RoundEvent]]] = {}

    async def read(self, pool: asyncpg.Pool, round_id: UUID, after: int, upto: int) -> list[RoundEvent]:
        key = (round_id, after, upto)
        reading = self.reading.get(key)
        if reading is None:
            reading = self.reading[key] = asyncio.create_task(self._read(pool, round_id, after, upto))
            reading.add_done_callback(lambda _: self.reading.pop(key, None))
        return await asyncio.shield(reading)  # one socket leaving does not cancel the others' read

    @staticmethod
    async def _read(pool: asyncpg.Pool, round_id: UUID, after: int, upto: int) -> list[RoundEvent]:
        async with pool.acquire() as conn:
            return await service.stored_events_between(conn, round_id, after, upto)


gaps = SharedGaps()


class Ping(msgspec.Struct, frozen=True, tag_field="type", tag="ping"):
    """The one frame a watcher may send, answered with the server's time and the last seq sent."""


def server_time() -> datetime:
    return datetime.now(UTC)


class RoundStream:
    """One watcher's socket: live events pass through its `Outbox` (state conflated, events in order)
    and a writer task sends them, so a slow socket delays only itself."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        pool: asyncpg.Pool,
        redis: Redis,
        watcher: Principal,
        seller: UUID,
        round_id: UUID,
    ) -> None:
        self.socket = socket
        self.pool = pool
        self.redis = redis
        self.watcher = watcher
        self.seller = seller
        self.round_id = round_id
        self.member = uuid4().hex  # this socket among the round's watchers in Redis
        self.last_seq = 0  # the last event put in the outbox
        self.sent_seq = 0  # the last event passed on: sent, replaced by a state sent, or not to be shown
        self.standing: Standing | None = None  # the round as this watcher knows it, up to last_seq
        self.outbox = Outbox(bound=conflation.EVENT_BOUND)
        self.early: dict[int, RoundEvent] = {}  # published events whose predecessors have not come yet
        self.ordering = asyncio.Lock()  # one event, or one gap's reading, passed on at a time
        self.gap_filler: asyncio.Task[None] | None = None
        self.asking: asyncio.Task[None] | None = None  # PostgreSQL asked about an overdue round
        self.wake = asyncio.Event()
        self.dropped = False

    async def run(self, channels: ChannelsPlugin, after: int) -> None:
        """Subscribe first, then replay, so nothing committed in between is missed. The round frame
        carries the state as of its seq, so only the replayed events that must arrive are sent."""
        async with channels.start_subscription(service.channel(self.round_id)) as subscriber:
            async with self.pool.acquire() as conn:
                view, missed = await service.watch(conn, self.watcher, self.round_id, after)
            self.last_seq = self.sent_seq = max(after, view.seq)
            watchers = presence.join(self.redis, self.round_id, self.member, self.on_watchers)
            try:
                self.standing = Standing(view, watchers)
                round_frame = Frame(
                    type="round", server_time=server_time(), seq=view.seq, round=view,
                    state=self.standing.state(server_time()),
                )  # fmt: skip
                await self.send(round_frame)
                for seen in missed:
                    if not is_state(seen):
                        await self.send_bytes(msgspec.json.encode(event_frame(seen)))
                writer = asyncio.create_task(self.write())
                try:
                    async with subscriber.run_in_background(self.on_live, join=False):
                        await self.answer_frames()
                finally:
                    self.dropped = True  # gone: nothing more is passed on, no gap read
                    tasks = [task for task in (writer, self.gap_filler, self.asking) if task is not None]
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                presence.leave(self.round_id, self.member)

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
            await self.send(Frame(type="pong", server_time=server_time(), seq=self.sent_seq))

    async def on_live(self, data: bytes) -> None:
        """Pass a published event on in sequence. One that comes early (publishes race each other
        after their commits) waits up to `REORDER_WAIT` for those before it; only then is the gap
        read from PostgreSQL, so a burst on a round with a thousand watchers costs no reads."""
        if self.dropped:
            return
        try:
            event = shared.event(data)
            async with self.ordering:
                if event.seq <= self.last_seq:
                    return
                self.early[event.seq] = event
                self.pass_on(self.pass_on_early)
                if self.early and self.gap_filler is None:
                    self.gap_filler = asyncio.create_task(self.fill_gap(REORDER_WAIT))
        except Exception:  # fallen behind, or broken: the page resumes from PostgreSQL
            await self.drop()

    def pass_on_early(self) -> None:
        while (event := self.early.pop(self.last_seq + 1, None)) is not None:
            mine = shared.seen(event, audience(event, self.seller, self.watcher))
            if mine is not None:
                self.put(mine)
            self.last_seq = event.seq

    async def fill_gap(self, wait: float) -> None:
        """Read from PostgreSQL the events still missing after `wait` seconds, then pass on the rest."""
        try:
            await asyncio.sleep(wait)
            async with self.ordering:
                if not self.early:
                    return
                upto = min(self.early) - 1
                missed = await gaps.read(self.pool, self.round_id, self.last_seq, upto)

                def fill() -> None:
                    for event in missed:
                        mine = shared.seen(event, audience(event, self.seller, self.watcher))
                        if mine is not None:
                            self.put(mine)
                    self.last_seq = upto
                    self.pass_on_early()

                self.pass_on(fill)
        except Exception:  # behind, or its gap unreadable now: the page resumes from PostgreSQL
            await self.drop()
        finally:
            self.gap_filler = None
            if self.early and not self.dropped:
                self.gap_filler = asyncio.create_task(self.fill_gap(REORDER_WAIT))

    def pass_on(self, step: Callable[[], None]) -> None:
        """Run `step` (which puts into the outbox) and wake the writer if it has something new to do:
        an event, a state when none was waiting for its turn already, or events this watcher may not
        see to count as passed."""
        state_waiting = self.outbox.state is not None
        step()
        new_state = self.outbox.state is not None and not state_waiting
        passed_unseen = self.outbox.empty and self.sent_seq < self.last_seq
        if self.outbox.events or new_state or passed_unseen:
            self.wake.set()

    def put(self, seen: RoundEvent) -> None:
        assert self.standing is not None
        self.standing = self.standing.applied(seen)
        if is_state(seen):
            self.outbox.put_state(seen.seq, self.standing)
        else:
            self.outbox.put_event(seen)

    def on_watchers(self, total: int) -> None:
        if self.standing is not None and self.standing.watchers != total:
            self.restate(dataclasses.replace(self.standing, watchers=total))

    def restate(self, standing: Standing) -> None:
        """State changed without an event (watchers, the clock's price): sent as of the last event."""
        self.standing = standing
        if self.outbox.state is None:  # otherwise the writer already waits for its turn
            self.wake.set()
        self.outbox.put_state(self.last_seq, standing)

    async def write(self) -> None:
        """Send what the outbox has ready, waking when something is put, a state message falls due, a
        descending clock's price drops or the round is overdue (then PostgreSQL is asked)."""
        price_drop: datetime | None = None
        asked_at = datetime.min.replace(tzinfo=UTC)
        try:
            while True:
                if price_drop is not None and server_time() >= price_drop and self.standing is not None:
                    self.restate(self.standing)
                self.wake.clear()
                ready, wait = self.outbox.take(time.monotonic())
                for item in ready:
                    await self.send_bytes(self.encode(item))
                    self.sent_seq = item.seq
                if self.outbox.empty:  # events this watcher may not see are passed too
                    self.sent_seq = self.last_seq
                now = server_time()
                price_drop = self.standing.next_price_drop(now) if self.standing else None
                ask_at = self.ask_at(asked_at)
                if ask_at is not None and now >= ask_at:
                    asked_at = now
                    self.ask_postgresql()
                    ask_at = self.ask_at(asked_at)
                for at in (price_drop, ask_at):
                    if at is not None:
                        until = max(0.0, (at - now).total_seconds())
                        wait = until if wait is None else min(wait, until)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait)
        except Exception:  # a socket that is slow, gone or broken: never one left open but unfed
            await self.drop()

    def ask_at(self, asked_at: datetime) -> datetime | None:
        """When to ask PostgreSQL for events pub/sub did not bring: once the round is `OVERDUE` past its
        close with no close heard (a lost publish with nothing after it shows no gap), then every
        `OVERDUE` while it stays so. None while the round is not overdue or has closed."""
        if self.standing is None or self.standing.view.state is RoundState.CLOSED:
            return None
        overdue = timedelta(seconds=OVERDUE)
        return max(self.standing.view.closes_at + overdue, asked_at + overdue)

    def ask_postgresql(self) -> None:
        if self.asking is None or self.asking.done():
            self.asking = asyncio.create_task(self.catch_up())

    async def catch_up(self) -> None:
        try:
            async with self.ordering:
                for event in await gaps.read(self.pool, self.round_id, self.last_seq, LATEST_SEQ):
                    self.early.setdefault(event.seq, event)
                self.pass_on(self.pass_on_early)
        except Exception:  # unreadable now: the page resumes from PostgreSQL
            await self.drop()

    def encode(self, item: Outgoing) -> bytes:
        if item.event is not None:
            return shared.frame(item.event, audience(item.event, self.seller, self.watcher))
        assert item.standing is not None
        now = server_time()
        state = Frame(
            type="state", server_time=now, seq=item.seq, state=item.standing.state(now),
            replaced=item.replaced,
        )  # fmt: skip
        return msgspec.json.encode(state)

    async def drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        log.info("dropping a slow or gone watcher", extra={"round_id": str(self.round_id)})
        with contextlib.suppress(Exception):
            await self.socket.close(TOO_SLOW, f"too slow: reconnect with after={self.sent_seq}")

    async def send(self, frame: Frame) -> None:
        await self.send_bytes(msgspec.json.encode(frame))

    async def send_bytes(self, encoded: bytes) -> None:
        await asyncio.wait_for(self.socket.send_text(encoded), SEND_TIMEOUT)


@websocket("/ws/rounds/{round_id:uuid}")
async def round_stream(
    socket: WebSocket[Any, Any, Any],
    pool: asyncpg.Pool,
    channels: ChannelsPlugin,
    jobs: ArqRedis,
    optional_caller: Principal | None,
    round_id: UUID,
    after: Annotated[int, Parameter(ge=0, le=2**31 - 1)] = 0,
) -> None:
    """Frames: "round" (the round as it stands, with its `state`), then "event" for each event after
    `after` that must arrive, in order, and "state" (bid count, watchers, time left, clock price, as
    of `seq`, standing for `replaced` unsent older ones) at most every 150 ms; send {"type": "ping"}
    for a "pong". Closes with 4401 when not signed in, 4404 for an unknown round, 1013 when the socket
    falls behind (reconnect with after=<last seq>, given in the close reason)."""
    await socket.accept()
    if optional_caller is None:
        await socket.close(UNAUTHENTICATED, "sign in first (session cookie or bearer token)")
        return
    async with pool.acquire() as conn:
        found = await service.find_round(conn, round_id)
    if found is None:
        await socket.close(UNKNOWN_ROUND, f"no round {round_id}")
        return
    stream = RoundStream(socket, pool, jobs, optional_caller, found.round.seller, round_id)
    await stream.run(channels, after)


route_handlers: list[ControllerRouterHandler] = [RoundController, NegotiationController, round_stream]
