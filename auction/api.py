"""Round and negotiation endpoints, and the websocket that streams a round's events.

The websocket: missed events are replayed from PostgreSQL, then live ones come from the round's
`auction.hub.Hub` (one Channels subscription per round and process, which puts events in order and
fills gaps from PostgreSQL). Each watcher gets every event it must see exactly once and in order,
and state (bid count, time left, watchers across all server processes from `auction.presence`, a
descending clock's price) at most every 150 ms, the newest replacing the unsent. A socket that
cannot take a frame within `SEND_TIMEOUT` seconds, or with too many events unsent, is closed (1013);
the page reconnects with `after=<last seq>` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Annotated, Any, NamedTuple
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

from auction import service
from auction.conflation import Standing, is_state
from auction.hub import Hub, Watcher, event_frame, hubs, server_time
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
from rights.identity import Principal
from rights.pooling import Connect
from rights.terms import Money

log = logging.getLogger("auction.api")

SEND_TIMEOUT = 5.0
TOO_SLOW = 1013  # "try again later": the page reconnects with after=<last seq>

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
    async def publish(name: str, data: bytes) -> None:
        hubs.heard_here(name, data)  # this process's watchers now, without Redis's round trip
        await channels.wait_published(data, name)

    return Relay(publish=publish, jobs=jobs)


class Bidding(NamedTuple):
    """What a bid's handler needs, as one dependency (`bidding`, provided by the app): Litestar resolves
    two or more dependencies of a handler in an anyio task group, a task each, which was 8 % of a server's
    samples while it took 200 bids a second."""

    connect: Connect
    relay: Relay
    caller: Principal


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
    async def place_bid(self, bidding: Bidding, round_id: UUID, data: NewBid) -> BidReceipt:
        return await service.place_bid(*bidding, round_id, data.amount, data.bid_id)

    @get("/{round_id:uuid}/bids/mine")
    async def my_bids(self, conn: asyncpg.Connection, caller: Principal, round_id: UUID) -> list[MyBid]:
        return await service.my_bids(conn, caller, round_id)

    @post("/{round_id:uuid}/commitments", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def commit_bid(self, bidding: Bidding, round_id: UUID, data: NewCommitment) -> BidReceipt:
        return await service.commit_bid(*bidding, round_id, data.digest, data.bid_id)

    @post("/{round_id:uuid}/reveals", status_code=HTTP_200_OK, opt=BUYERS)
    async def reveal_bid(self, bidding: Bidding, round_id: UUID, data: NewReveal) -> BidReceipt:
        return await service.reveal_bid(*bidding, round_id, data.bid_id, data.amount, data.nonce)

    @post("/{round_id:uuid}/accept", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def accept_clock(self, bidding: Bidding, round_id: UUID) -> ClockReceipt:
        return await service.accept_clock(*bidding, round_id)

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


class Ping(msgspec.Struct, frozen=True, tag_field="type", tag="ping"):
    """The one frame a watcher may send, answered with the server's time and the last seq sent."""


class RoundStream:
    """One watcher's socket: its round's `Hub` queues what it must send in its outbox and a writer
    task sends it, so a slow socket delays only itself."""

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
        self.round_id = round_id
        self.member = uuid4().hex  # this socket among the round's watchers in Redis
        self.sent_seq = 0  # the seq of the last message sent
        self.watching = Watcher(watcher, seller, 0)
        self.watching.on_behind = self.drop_later
        self.hub: Hub | None = None
        self.dropping: asyncio.Task[None] | None = None
        self.dropped = False

    async def run(self, channels: ChannelsPlugin, after: int) -> None:
        """Subscribe first (through the round's hub), then replay, so nothing committed in between is
        missed. The round frame carries the state as of its seq, so only the replayed events that must
        arrive are sent."""
        self.hub = hub = await hubs.join(channels, self.pool, self.round_id)
        try:
            async with self.pool.acquire() as conn:
                view, missed = await service.watch(conn, self.watching.watcher, self.round_id, after)
            self.sent_seq = self.watching.last_seq = max(after, view.seq)
            watchers = presence.join(self.redis, self.round_id, self.member, hub.on_watchers)
            try:
                now = server_time()
                standing = Standing(view, watchers)
                round_frame = Frame(
                    type="round", server_time=now, seq=view.seq, round=view, state=standing.state(now)
                )
                await self.send(round_frame)
                for seen in missed:
                    if not is_state(seen):
                        await self.send_bytes(msgspec.json.encode(event_frame(seen)))
                hub.add(self.watching, view, watchers)
                writer = asyncio.create_task(self.write(hub))
                try:
                    await self.answer_frames(hub)
                finally:
                    self.watching.dropped = True  # gone: nothing more is passed on
                    writer.cancel()
                    await asyncio.gather(writer, return_exceptions=True)
            finally:
                presence.leave(self.round_id, self.member)
        finally:
            hub.remove(self.watching)

    async def answer_frames(self, hub: Hub) -> None:
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
            seq = hub.position(self.watching, self.sent_seq)
            await self.send(Frame(type="pong", server_time=server_time(), seq=seq))

    async def write(self, hub: Hub) -> None:
        """Send what the hub queued, in order; once caught up, ask the hub for the state it was owed
        meanwhile."""
        outbox, wake = self.watching.outbox, self.watching.wake
        loop = asyncio.get_running_loop()
        try:
            while True:
                wake.clear()
                # One timer, not a task per send: a healthy socket's send never waits, and the timer
                # is moved on only once a second, as frames keep leaving.
                moved_at = loop.time()
                async with asyncio.timeout(moved_at + SEND_TIMEOUT) as frame_deadline:
                    while (item := outbox.take()) is not None:
                        await self.socket.send_text(item.data)
                        self.sent_seq = item.seq
                        if (now := loop.time()) - moved_at > 1.0:
                            moved_at = now
                            frame_deadline.reschedule(now + SEND_TIMEOUT)
                if outbox.unsent_states(hub.version) > 0:
                    hub.ticks.set()
                await wake.wait()
        except Exception:  # a socket that is slow, gone or broken: never one left open but unfed
            await self.drop()

    def drop_later(self) -> None:
        if self.dropping is None:
            self.dropping = asyncio.create_task(self.drop())

    async def drop(self) -> None:
        if self.dropped:
            return
        self.dropped = self.watching.dropped = True
        log.info("dropping a slow or gone watcher", extra={"round_id": str(self.round_id)})
        after = self.sent_seq if self.hub is None else self.hub.position(self.watching, self.sent_seq)
        with contextlib.suppress(Exception):
            await self.socket.close(TOO_SLOW, f"too slow: reconnect with after={after}")

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
