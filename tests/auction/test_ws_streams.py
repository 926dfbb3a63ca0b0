"""The round websocket: who sees what, resuming without loss or repeats, bad frames, signing in."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import asyncpg
import httpx
import pytest
from litestar.channels import ChannelsPlugin
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from auction import api as auction_api
from auction import conflation, service
from auction.hub import hubs
from auction.service import Relay
from rights.terms import Money
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, watching, ws_url
from tests.conftest import TEST_PASSWORD, SignedIn, SignIn

timers = live.timers  # an arq worker running in the test's event loop


async def test_sealed_bids_never_reach_anyone_but_their_bidder_before_the_close(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, alice, bob, carol = [await sign_in(role) for role in ("rights_holder", "buyer", "buyer", "buyer")]
    opened = await open_round(pg_pool, seller, sealed("first_price", reserve=1_000), duration=3)
    amounts = {alice: 123_457, bob: 98_765}
    async with (
        watching(live_server, seller, opened["id"]) as seller_room,
        watching(live_server, alice, opened["id"]) as alice_room,
        watching(live_server, bob, opened["id"]) as bob_room,
        watching(live_server, carol, opened["id"]) as carol_room,
    ):
        for who, amount in amounts.items():
            await who.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(amount)})
        rooms = {"seller": seller_room, "alice": alice_room, "bob": bob_room, "carol": carol_room}
        for room in rooms.values():
            await room.event("closed")
    for name, room in rooms.items():
        before_close = room.frames[: room.frames.index(room.events[-1])]
        text = json.dumps(before_close)
        own = {"alice": amounts[alice], "bob": amounts[bob]}.get(name)
        for amount in amounts.values():
            if amount != own:
                assert str(amount) not in text, f"{name} saw someone else's bid before the close"
        bids = [f["event"] for f in before_close if f["type"] == "event" and f["event"]["kind"] == "bid"]
        counts = bid_counts(before_close)
        assert counts == sorted(counts) and counts[-1] == 2, f"{name} sees the count, never going back"
        if own is not None:
            assert [bid["amount"]["amount"] for bid in bids if "amount" in bid] == [own]
    assert alice_room.events[-1]["event"]["outcome"]["winner"]["bid"] == eur(123_457), "the close is public"


async def test_a_watcher_that_leaves_and_resumes_with_after_misses_nothing_and_sees_nothing_twice(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, watcher = await sign_in("rights_holder"), await sign_in("buyer")
    buyers = [await sign_in("buyer") for _ in range(5)]
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    bids = f"/api/rounds/{opened['id']}/bids"
    async with watching(live_server, watcher, opened["id"]) as first:
        for amount, buyer in enumerate(buyers[:3], start=2_000):
            await buyer.client.post(bids, json={"amount": eur(amount)})
        await first.until(lambda w: w.bids() == 3, what="the third bid's state")
        last_seen = first.seqs()[-1]
    await buyers[3].client.post(bids, json={"amount": eur(3_000)})  # while the watcher is away
    await watcher.client.post(bids, json={"amount": eur(3_001)})
    await buyers[4].client.post(bids, json={"amount": eur(3_002)})
    async with watching(live_server, watcher, opened["id"], after=last_seen) as resumed:
        await resumed.until(lambda w: len(w.events) == 1, what="the watcher's own receipt")
        assert resumed.frames[0]["round"]["bids"] == 6 and resumed.frames[0]["seq"] == 7
    assert first.seqs() == sorted(set(first.seqs())) and first.kinds()[0] == "opened"
    assert [f["seq"] for f in resumed.events] == [6], "the own receipt missed while away, once"
    assert resumed.events[0]["event"]["amount"] == eur(3_001)


async def test_events_redis_never_delivered_are_filled_in_from_postgresql(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, app: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    lost = Relay(publish=_drop, jobs=app.state.jobs)
    async with watching(live_server, alice, opened["id"]) as room:
        await service.place_bid(
            pg_pool.acquire, lost, alice.principal, UUID(opened["id"]), Money(4_000, "EUR"), None
        )
        await bob.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(5_000)})
        await room.until(lambda w: w.seqs() == [1, 2, 3], what="the lost receipt filled in before the next")
    assert [f["type"] for f in room.updates] == ["event", "event", "state"]
    assert room.updates[2]["state"]["bids"] == 2
    assert room.updates[1]["event"]["amount"] == eur(4_000)


async def test_a_bid_placed_through_this_process_reaches_its_watchers_here_without_redis(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, app: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    # The server's own relay, with everything it sends to Redis lost: only the hand-over here is left.
    here_only = auction_api.relay(cast(ChannelsPlugin, RedisLost()), app.state.jobs)
    async with watching(live_server, alice, opened["id"]) as room:
        for who, amount in ((bob, 3_000), (alice, 4_000)):
            await service.place_bid(
                pg_pool.acquire, here_only, who.principal, UUID(opened["id"]), Money(amount, "EUR"), None
            )
        await room.until(lambda w: w.seqs()[-1:] == [3], what="both bids, with no event after them")
    assert room.bids() == 2
    assert [f["event"]["amount"] for f in room.events if f["event"]["kind"] == "bid"] == [eur(4_000)]


class RedisLost:
    """Channels whose every publish Redis loses."""

    async def wait_published(self, data: bytes, channels: str) -> None:
        return None


async def test_a_close_whose_publish_is_lost_reaches_the_watcher_from_postgresql(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, app: Any
) -> None:
    seller, watcher = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=1)
    lost = Relay(publish=_drop, jobs=app.state.jobs)
    async with watching(live_server, watcher, opened["id"]) as room:
        await live.until_server_time_passes(pg_pool, datetime.fromisoformat(opened["closes_at"]))
        # Closed here (its publish lost, nothing after it) or, rarely, by the server's sweep first.
        await service.close_due_rounds(pg_pool.acquire, lost, closers=1)
        closed = await room.event("closed", within=15)
    assert closed["seq"] == 2 and room.seqs() == [1, 2]


async def test_a_watcher_gets_the_latest_state_and_every_event_in_order_while_bids_pour_in(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, watcher = await sign_in("rights_holder"), await sign_in("buyer")
    buyers = [await sign_in("buyer") for _ in range(24)]
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    bids = f"/api/rounds/{opened['id']}/bids"
    async with watching(live_server, watcher, opened["id"]) as room:

        async def bid(who: SignedIn, amount: int) -> None:
            assert (await who.client.post(bids, json={"amount": eur(amount)})).status_code == 201

        await asyncio.gather(*(bid(b, 2_000 + i) for i, b in enumerate(buyers[:12])))
        await bid(watcher, 9_999)
        await asyncio.gather(*(bid(b, 3_000 + i) for i, b in enumerate(buyers[12:])))
        await room.until(lambda w: w.bids() == 25, what="the state after the last bid")
    seqs = room.seqs()
    assert seqs == sorted(set(seqs)), "in order, never an older state after a newer one"
    counts = bid_counts(room.updates)
    assert counts == sorted(counts)
    own = [f for f in room.events if f["event"]["kind"] == "bid"]
    assert [f["event"]["amount"] for f in own] == [eur(9_999)], "the own receipt arrives, whole"
    states = [f for f in room.updates if f["type"] == "state"]
    assert sum(1 + f["replaced"] for f in states) == 24, "every other bid sent or counted as replaced"


async def test_a_watcher_that_falls_behind_is_dropped_and_resumes_from_postgresql_without_a_gap(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller, watcher, other = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    bids = f"/api/rounds/{opened['id']}/bids"
    monkeypatch.setattr(conflation, "EVENT_BOUND", 0)  # any unsent event puts this watcher behind
    async with watching(live_server, watcher, opened["id"]) as room:
        await other.client.post(bids, json={"amount": eur(2_000)})
        await watcher.client.post(bids, json={"amount": eur(2_500)})
        await wait_for(room.closed.is_set, what="the watcher to be dropped")
    assert room.socket.close_code == 1013
    after = int((room.socket.close_reason or "").rsplit("after=", 1)[1])
    monkeypatch.undo()
    async with watching(live_server, watcher, opened["id"], after=after) as resumed:
        await resumed.until(lambda w: [f["seq"] for f in w.events] == [3], what="the own receipt")
    assert after == max([*room.seqs(), 1]) < 3, "resumes after the last message it was sent"
    assert resumed.frames[0]["round"]["bids"] == 2


async def test_a_slow_watcher_gets_every_event_in_order_and_then_only_the_latest_state(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, watcher = await sign_in("rights_holder"), await sign_in("buyer")
    buyers = [await sign_in("buyer") for _ in range(12)]
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    bids = f"/api/rounds/{opened['id']}/bids"
    headers = {"Authorization": f"Bearer {watcher.token}"}
    async with connect(ws_url(live_server, opened["id"]), additional_headers=headers) as socket:
        first = json.loads(await socket.recv())
        assert first["type"] == "round"
        # The watcher reads nothing while the bids come in, its own among them.
        for i, buyer in enumerate(buyers[:6]):
            assert (await buyer.client.post(bids, json={"amount": eur(2_000 + i)})).status_code == 201
        own = await watcher.client.post(bids, json={"amount": eur(9_999)})
        for i, buyer in enumerate(buyers[6:]):
            assert (await buyer.client.post(bids, json={"amount": eur(3_000 + i)})).status_code == 201
        room = live.Watcher(socket)
        room.frames.append(first)  # before the reader's first frame: it starts at the next await
        await room.until(lambda w: w.bids() == 13, what="the state after the last bid")
    assert room.seqs() == sorted(room.seqs()), "never an older message after a newer one"
    assert [(f["seq"], f["event"]["kind"]) for f in room.events] == [
        (1, "opened"),
        (own.json()["seq"], "bid"),
    ]
    states = [f for f in room.frames if f["type"] == "state"]
    assert states[-1]["seq"] == 14 and states[-1]["state"]["bids"] == 13, "the latest state last"
    assert sum(1 + f["replaced"] for f in states) == 12, "each other bid sent or counted as replaced"


async def test_watchers_are_counted_while_connected_and_counted_out_when_they_leave(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    async with watching(live_server, alice, opened["id"]) as first:
        assert first.watchers() == 1
        async with watching(live_server, bob, opened["id"]) as second:
            await first.until(lambda w: w.watchers() == 2, what="alice to see two watchers")
            await second.until(lambda w: w.watchers() == 2, what="bob to see two watchers")
        await first.until(lambda w: w.watchers() == 1, what="alice to see bob leave")
    state = first.frames[-1]
    assert state["type"] == "state" and state["seq"] == 1, "state as of the last event (the opening)"
    assert state["state"]["bids"] == 0 and 0 < state["state"]["time_left_ms"] <= 60_000
    assert state["state"]["deadline"] == opened["deadline"] and "clock_price" not in state["state"]


async def test_a_process_holds_one_subscription_per_round_however_many_sockets_watch_it(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, watcher, bidder = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    round_id = UUID(opened["id"])
    async with contextlib.AsyncExitStack() as rooms:
        watchers = [
            await rooms.enter_async_context(watching(live_server, watcher, opened["id"])) for _ in range(5)
        ]
        hub = hubs.hubs[round_id]
        assert len(hub.watchers) == 5 and hub.subscriber is not None
        await bidder.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(2_000)})
        for room in watchers:
            await room.until(lambda w: w.bids() == 1, what="every socket to hear the bid")
        assert hubs.hubs[round_id] is hub, "the same subscription throughout"
    await wait_for(
        lambda: round_id not in hubs.hubs, what="the last socket's leaving to end the subscription"
    )


def bid_counts(frames: list[dict[str, Any]]) -> list[int]:
    """The bid count as each state message and bid event said it, in order."""
    return [
        f["state"]["bids"] if f["type"] == "state" else f["event"]["bids"]
        for f in frames
        if f["type"] == "state" or (f["type"] == "event" and f["event"]["kind"] == "bid")
    ]


async def _drop(channel: str, data: bytes) -> None:
    """A publish that never arrives, as when Redis pub/sub reconnects."""


async def test_a_malformed_frame_gets_an_error_frame_and_the_socket_stays_open(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(), duration=60)
    async with watching(live_server, buyer, opened["id"]) as room:
        for bad in ("not json", '{"type": "bid"}', "[1, 2]"):
            await room.socket.send(bad)
        await room.until(
            lambda w: len([f for f in w.frames if f["type"] == "error"]) == 3, what="three errors"
        )
        await room.socket.send('{"type": "ping"}')
        pong = await room.until(lambda w: next((f for f in w.frames if f["type"] == "pong"), None))
    assert pong["server_time"] and pong["seq"] == 1
    assert all("unreadable frame" in f["detail"] for f in room.frames if f["type"] == "error")


async def test_watchers_sign_in_by_session_cookie_or_token_and_others_are_turned_away(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(), duration=60)
    async with httpx.AsyncClient(base_url=live_server) as browser:
        login = await browser.post("/api/auth/login", json={"email": buyer.email, "password": TEST_PASSWORD})
        assert login.status_code == 200
        cookie = f"mp_session={browser.cookies['mp_session']}"
    async with connect(ws_url(live_server, opened["id"]), additional_headers={"Cookie": cookie}) as socket:
        first = json.loads(await socket.recv())
        assert first["type"] == "round" and first["round"]["id"] == opened["id"]
    with pytest.raises(ConnectionClosed) as anonymous:
        async with connect(ws_url(live_server, opened["id"])) as socket:
            await socket.recv()
    assert anonymous.value.rcvd is not None and anonymous.value.rcvd.code == 4401
    with pytest.raises(ConnectionClosed) as unknown:
        headers = {"Authorization": f"Bearer {buyer.token}"}
        async with connect(ws_url(live_server, str(UUID(int=5))), additional_headers=headers) as socket:
            await socket.recv()
    assert unknown.value.rcvd is not None and unknown.value.rcvd.code == 4404


async def test_the_rights_holder_lists_its_own_rounds(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    seller, other = await sign_in("rights_holder"), await sign_in("rights_holder")
    mine = await open_round(pg_pool, seller, sealed(), duration=60)
    await open_round(pg_pool, other, sealed(), duration=60)
    listed = (await seller.client.get("/api/rounds", params={"mine": "true", "state": "open"})).json()
    assert [view["id"] for view in listed] == [mine["id"]]
