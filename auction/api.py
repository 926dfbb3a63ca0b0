"""Round and negotiation endpoints, and the websocket that streams a round's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Controller, WebSocket, get, post, websocket
from litestar.channels import ChannelsPlugin
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from auction import service
from auction.live import BidReceipt, ClockReceipt, MyBid, NegotiationView, NewRound, RoundEvent, RoundView
from auction.model import RoundState
from auction.service import Move, Relay
from auction.stream import RoundStream
from rights.identity import Principal
from rights.terms import Money

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
        conn: asyncpg.Connection,
        caller: Principal,
        channels: ChannelsPlugin,
        jobs: ArqRedis,
        data: NewRound,
    ) -> RoundView:
        return await service.open_round(conn, relay(channels, jobs), caller, data)

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
        after: Annotated[int, Parameter(ge=0)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=5000)] = 500,
    ) -> list[RoundEvent]:
        return await service.round_events(conn, caller, round_id, after, limit)

    @post("/{round_id:uuid}/bids", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def place_bid(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewBid,
    ) -> BidReceipt:  # fmt: skip
        return await service.place_bid(
            conn, relay(channels, jobs), caller, round_id, data.amount, data.bid_id
        )

    @get("/{round_id:uuid}/bids/mine")
    async def my_bids(self, conn: asyncpg.Connection, caller: Principal, round_id: UUID) -> list[MyBid]:
        return await service.my_bids(conn, caller, round_id)

    @post("/{round_id:uuid}/commitments", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def commit_bid(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewCommitment,
    ) -> BidReceipt:  # fmt: skip
        return await service.commit_bid(
            conn, relay(channels, jobs), caller, round_id, data.digest, data.bid_id
        )

    @post("/{round_id:uuid}/reveals", status_code=HTTP_200_OK, opt=BUYERS)
    async def reveal_bid(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewReveal,
    ) -> BidReceipt:  # fmt: skip
        return await service.reveal_bid(
            conn, relay(channels, jobs), caller, round_id, data.bid_id, data.amount, data.nonce
        )

    @post("/{round_id:uuid}/accept", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def accept_clock(
        self,
        conn: asyncpg.Connection,
        caller: Principal,
        channels: ChannelsPlugin,
        jobs: ArqRedis,
        round_id: UUID,
    ) -> ClockReceipt:
        return await service.accept_clock(conn, relay(channels, jobs), caller, round_id)

    @post("/{round_id:uuid}/negotiations", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def start_negotiation(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        round_id: UUID, data: NewOffer,
    ) -> NegotiationView:  # fmt: skip
        return await service.start_negotiation(conn, relay(channels, jobs), caller, round_id, data.amount)

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
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID, data: NewOffer,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(
            conn, relay(channels, jobs), caller, negotiation_id, Move.COUNTER, data.amount
        )

    @post("/{negotiation_id:uuid}/accept", status_code=HTTP_200_OK, opt=PARTIES)
    async def accept(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(conn, relay(channels, jobs), caller, negotiation_id, Move.ACCEPT)

    @post("/{negotiation_id:uuid}/reject", status_code=HTTP_200_OK, opt=PARTIES)
    async def reject(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(conn, relay(channels, jobs), caller, negotiation_id, Move.REJECT)

    @post("/{negotiation_id:uuid}/withdraw", status_code=HTTP_200_OK, opt=PARTIES)
    async def withdraw(
        self, conn: asyncpg.Connection, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        negotiation_id: UUID,
    ) -> NegotiationView:  # fmt: skip
        return await service.move(conn, relay(channels, jobs), caller, negotiation_id, Move.WITHDRAW)


@websocket("/ws/rounds/{round_id:uuid}")
async def round_stream(
    socket: WebSocket[Any, Any, Any],
    pool: asyncpg.Pool,
    channels: ChannelsPlugin,
    optional_caller: Principal | None,
    round_id: UUID,
    after: Annotated[int, Parameter(ge=0)] = 0,
) -> None:
    """Frames: "round" (the round as it stands), then "event" for each event after `after` and every
    new one; send {"type": "ping"} for a "pong". Closes with 4401 when not signed in, 4404 for an
    unknown round, 1013 when the socket falls behind (reconnect with after=<last seq>)."""
    await socket.accept()
    if optional_caller is None:
        await socket.close(UNAUTHENTICATED, "sign in first (session cookie or bearer token)")
        return
    async with pool.acquire() as conn:
        found = await service.find_round(conn, round_id)
    if found is None:
        await socket.close(UNKNOWN_ROUND, f"no round {round_id}")
        return
    await RoundStream(socket, pool, optional_caller, found.round.seller, round_id).run(channels, after)


route_handlers: list[ControllerRouterHandler] = [RoundController, NegotiationController, round_stream]
