"""Each mechanism end to end: a rights holder opens a round over HTTP, buyers take part, watchers follow
the websocket, the worker's deadline loop closes the round and the winner's deal is written right after, with its payees."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from redis.asyncio import Redis

from auction.commit_reveal import commitment_digest
from auction.live import Closed
from auction.mechanisms import verify_outcome
from auction.model import Round, VickreyParams
from contracts import store as deals
from contracts.model import Deal
from rights.terms import Money, Usage
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, watching
from tests.conftest import SignIn

timers = live.timers  # the session's arq worker, shared by the live-round tests


async def test_vickrey_round_closes_on_its_deadline_with_the_second_price_and_a_deal_with_payees(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any, redis_url: str
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=10_000), duration=3)
    async with watching(live_server, seller, opened["id"]) as room:
        assert (
            await alice.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(15_000)})
        ).status_code == 201
        assert (
            await bob.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(12_000)})
        ).status_code == 201
        closed = (await room.event("closed"))["event"]
    winner = closed["outcome"]["winner"]
    assert winner["bidder"] == str(alice.principal.organisation_id)
    assert winner["price"] == eur(12_000) and winner["basis"] == "second_bid"
    assert closed["outcome"]["counted"] == 2
    deal = await wait_for(
        lambda: _deal(pg_pool, closed["deal_id"]), what="the deal, made right after the close"
    )
    assert deal.buyer == alice.principal.organisation_id and deal.price == Money(12_000, "EUR")
    assert deal.seller == seller.principal.organisation_id and deal.state == "awaiting_payment"
    # No rights are recorded on this track: the seller who licensed it is paid the whole fee.
    assert {(p.organisation_id, p.share_bps) for p in deal.payees} == {
        (seller.principal.organisation_id, 5_000)
    }
    assert sum(p.share_bps for p in deal.payees) == 10_000
    # The close announced the deal and set its payment deadline's timer.
    async with Redis.from_url(redis_url) as redis:
        await wait_for(
            lambda: redis.exists(f"arq:job:deal-deadline:{deal.id}:awaiting_payment"), what="the deal's timer"
        )


async def _deal(pg_pool: asyncpg.Pool, deal_id: str) -> Deal | None:
    async with pg_pool.acquire() as conn:
        return await deals.deal(conn, UUID(deal_id))


async def test_first_price_winner_pays_own_bid(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed("first_price", reserve=5_000), duration=3)
    async with watching(live_server, bob, opened["id"]) as room:
        await alice.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(9_000)})
        await bob.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(7_000)})
        closed = (await room.event("closed"))["event"]
    assert closed["outcome"]["winner"]["price"] == eur(9_000)
    assert closed["outcome"]["winner"]["basis"] == "own_bid"


async def test_commit_reveal_round_forfeits_the_unrevealed_and_publishes_what_verifies_the_outcome(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, alice, bob, carol = [await sign_in(role) for role in ("rights_holder", "buyer", "buyer", "buyer")]
    opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=1_000, reveal_seconds=2), duration=3)
    round_id = opened["id"]
    amounts = {alice: 30_000, bob: 20_000, carol: 50_000}
    nonces = {who: secrets.token_hex(16) for who in amounts}
    bid_ids = {}
    for who, amount in amounts.items():
        digest = commitment_digest(
            Money(amount, "EUR"), nonces[who], who.principal.organisation_id, UUID(round_id)
        )
        response = await who.client.post(f"/api/rounds/{round_id}/commitments", json={"digest": digest})
        assert response.status_code == 201, response.text
        bid_ids[who] = response.json()["bid_id"]
    early = await alice.client.post(
        f"/api/rounds/{round_id}/reveals",
        json={"bid_id": bid_ids[alice], "amount": eur(30_000), "nonce": nonces[alice]},
    )
    assert early.status_code == 409 and "reveals are taken from" in early.json()["detail"]

    await _until_server_time_passes(alice, round_id, opened["deadline"])
    async with watching(live_server, alice, round_id) as room:
        for who in (alice, bob):  # carol never reveals her higher bid
            response = await who.client.post(
                f"/api/rounds/{round_id}/reveals",
                json={"bid_id": bid_ids[who], "amount": eur(amounts[who]), "nonce": nonces[who]},
            )
            assert response.status_code == 200, response.text
        closed_frame = await room.event("closed")
    closed = msgspec.convert(closed_frame["event"], Closed)
    assert closed.outcome is not None and closed.outcome.winner is not None
    assert closed.outcome.winner.bidder == alice.principal.organisation_id
    assert closed.outcome.winner.price == Money(20_000, "EUR")
    assert [r.reason for r in closed.outcome.rejected] == ["not_revealed"]
    assert len(closed.commitments) == 3 and len(closed.reveals) == 2
    round = await _round_model(alice, round_id)
    assert verify_outcome(round, closed.commitments, closed.reveals, closed.outcome) == closed.outcome


async def test_clock_sells_to_the_first_acceptance_at_the_price_shown(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    params = {
        "mechanism": "clock",
        "start": eur(10_000),
        "floor": eur(4_000),
        "step": eur(500),
        "step_seconds": 60,
    }
    opened = await open_round(pg_pool, seller, params, duration=60)
    assert opened["clock_price"] == eur(10_000)
    async with watching(live_server, bob, opened["id"]) as room:
        accepted = await alice.client.post(f"/api/rounds/{opened['id']}/accept")
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["price"] == eur(10_000)
        late = await bob.client.post(f"/api/rounds/{opened['id']}/accept")
        assert late.status_code == 409 and "closed" in late.json()["detail"]
        closed = (await room.event("closed"))["event"]
    assert closed["outcome"]["winner"]["bidder"] == str(alice.principal.organisation_id)
    assert closed["outcome"]["winner"]["basis"] == "clock"


async def test_negotiation_counters_automatically_and_is_seen_only_by_its_two_parties(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, buyer, other = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    terms = {
        "mechanism": "negotiation", "floor": eur(5_000), "ceiling": eur(20_000), "auto_accept_at": eur(18_000),
        "max_rounds": 6, "response_seconds": 60, "counter": {"strategy": "split_the_difference"},
    }  # fmt: skip
    opened = await open_round(pg_pool, seller, terms, duration=60)
    assert (await buyer.client.get(f"/api/rounds/{opened['id']}")).json().get("params") is None, (
        "the range is private"
    )
    async with (
        watching(live_server, seller, opened["id"]) as seller_room,
        watching(live_server, other, opened["id"]) as other_room,
    ):
        started = await buyer.client.post(
            f"/api/rounds/{opened['id']}/negotiations", json={"amount": eur(8_000)}
        )
        assert started.status_code == 201, started.text
        negotiation = started.json()
        assert negotiation["state"] == "awaiting_buyer" and negotiation["offers"][-1]["amount"] == eur(13_000)
        countered = await buyer.client.post(
            f"/api/negotiations/{negotiation['id']}/counter", json={"amount": eur(12_000)}
        )
        assert countered.json()["offers"][-1] == {**countered.json()["offers"][-1], "amount": eur(12_500)}
        accepted = await buyer.client.post(f"/api/negotiations/{negotiation['id']}/accept")
        assert accepted.json()["state"] == "accepted" and accepted.json()["price"] == eur(12_500)
        moves = await seller_room.until(lambda w: len([k for k in w.kinds() if k == "negotiation"]) == 3)
        assert moves
        last = [f for f in seller_room.events if f["event"]["kind"] == "negotiation"][-1]["event"]
        assert last["deal_id"] and last["negotiation"]["price"] == eur(12_500)
        await _streamed_up_to(other_room, max(seller_room.seqs()))
        assert "negotiation" not in other_room.kinds(), "the other buyer's stream passed the moves unseen"
    refused = await other.client.post(f"/api/negotiations/{negotiation['id']}/accept")
    assert refused.status_code == 404
    deal = (await buyer.client.get(f"/api/deals/{last['deal_id']}")).json()["deal"]
    assert deal["buyer"] == str(buyer.principal.organisation_id) and deal["price"] == eur(12_500)
    assert deal["state"] == "awaiting_payment" and sum(p["share_bps"] for p in deal["payees"]) == 10_000
    assert (await other.client.get(f"/api/deals/{last['deal_id']}")).status_code == 404


async def test_an_exclusive_licence_is_agreed_with_one_buyer_only(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, first, second = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    terms = {
        "mechanism": "negotiation", "floor": eur(5_000), "ceiling": eur(20_000), "auto_accept_at": eur(18_000),
        "max_rounds": 4, "response_seconds": 60,
    }  # fmt: skip
    opened = await open_round(pg_pool, seller, terms, duration=60, usage={**live.USAGE, "exclusive": True})
    won = await first.client.post(f"/api/rounds/{opened['id']}/negotiations", json={"amount": eur(19_000)})
    assert won.status_code == 201 and won.json()["state"] == "accepted", won.text

    late = await second.client.post(f"/api/rounds/{opened['id']}/negotiations", json={"amount": eur(19_500)})
    assert late.status_code == 409
    assert late.json()["detail"] == "this exclusive licence has already been agreed with another buyer"
    round_id = UUID(opened["id"])
    assert await pg_pool.fetchval("SELECT count(*) FROM negotiations WHERE round_id = $1", round_id) == 1
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM deals d JOIN negotiations n ON n.id = d.source_id WHERE n.round_id = $1",
            round_id,
        )
        == 1
    )


async def test_unanswered_offer_expires_on_its_response_deadline(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    terms = {
        "mechanism": "negotiation", "floor": eur(5_000), "ceiling": eur(20_000), "auto_accept_at": eur(18_000),
        "max_rounds": 4, "response_seconds": 1,
    }  # fmt: skip
    opened = await open_round(pg_pool, seller, terms, duration=60)
    async with watching(live_server, buyer, opened["id"]) as room:
        started = await buyer.client.post(
            f"/api/rounds/{opened['id']}/negotiations", json={"amount": eur(8_000)}
        )
        assert started.json()["state"] == "awaiting_rights_holder"
        expired = await room.until(
            lambda w: next(
                (f for f in w.events if f["event"].get("negotiation", {}).get("state") == "expired"), None
            )
        )
    assert expired["event"]["negotiation"]["reason"] == "the rights holder did not answer in time"


async def test_bids_on_unknown_or_closed_rounds_get_404_and_409_with_reasons(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    unknown = await buyer.client.post(f"/api/rounds/{UUID(int=7)}/bids", json={"amount": eur(20_000)})
    assert unknown.status_code == 404 and "no round" in unknown.json()["detail"]
    opened = await open_round(pg_pool, seller, sealed(), duration=1)
    await wait_for(lambda: _state(buyer, opened["id"]), what="the round to close")
    closed = await buyer.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(20_000)})
    assert closed.status_code == 409 and "closed at" in closed.json()["detail"]


async def test_opening_rounds_is_checked_for_role_ownership_and_terms(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller, stranger, buyer = (
        await sign_in("rights_holder"),
        await sign_in("rights_holder"),
        await sign_in("buyer"),
    )
    track_id = str(await live.new_track(pg_pool, seller))
    body = {"track_id": track_id, "usage": live.USAGE, "params": sealed(), "duration_seconds": 60}
    assert (await buyer.client.post("/api/rounds", json=body)).status_code == 403
    not_theirs = await stranger.client.post("/api/rounds", json=body)
    assert not_theirs.status_code == 403 and "belongs to another organisation" in not_theirs.json()["detail"]
    bad_reserve = await seller.client.post("/api/rounds", json={**body, "params": sealed(reserve=0)})
    assert bad_reserve.status_code == 400 and "reserve must be positive" in bad_reserve.text
    no_track = await seller.client.post("/api/rounds", json={**body, "track_id": str(UUID(int=9))})
    assert no_track.status_code == 404
    too_long = await seller.client.post("/api/rounds", json={**body, "duration_seconds": 10**9})
    assert too_long.status_code == 400


async def test_sealed_bids_are_refused_below_reserve_twice_or_by_the_seller(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=10_000), duration=60)
    bids = f"/api/rounds/{opened['id']}/bids"
    low = await buyer.client.post(bids, json={"amount": eur(9_999)})
    assert low.status_code == 400 and "under the reserve" in low.json()["detail"]
    assert (await buyer.client.post(bids, json={"amount": eur(10_000)})).status_code == 201
    again = await buyer.client.post(bids, json={"amount": eur(11_000)})
    assert again.status_code == 409 and "one bid per buyer" in again.json()["detail"]
    own = await seller.client.post(bids, json={"amount": eur(50_000)})
    assert own.status_code == 403
    mine = (await buyer.client.get(f"{bids}/mine")).json()
    assert [bid["amount"] for bid in mine] == [eur(10_000)]


async def _streamed_up_to(watcher: live.Watcher, seq: int) -> None:
    """Ping until the stream says it has passed event `seq` (pongs carry the last seq sent)."""

    async def passed() -> bool:
        pongs = len([f for f in watcher.frames if f["type"] == "pong"])
        await watcher.socket.send('{"type": "ping"}')
        await watcher.until(lambda w: len([f for f in w.frames if f["type"] == "pong"]) > pongs)
        return bool([f for f in watcher.frames if f["type"] == "pong"][-1]["seq"] >= seq)

    await wait_for(passed, what=f"the stream to pass event {seq}")


async def _state(who: Any, round_id: str) -> bool:
    return bool((await who.client.get(f"/api/rounds/{round_id}")).json()["state"] == "closed")


async def _until_server_time_passes(who: Any, round_id: str, moment: str) -> None:
    target = datetime.fromisoformat(moment)

    async def passed() -> bool:
        view = (await who.client.get(f"/api/rounds/{round_id}")).json()
        return datetime.fromisoformat(view["server_time"]) >= target

    await wait_for(passed, what=f"the server's clock to pass {moment}")


async def _round_model(who: Any, round_id: str) -> Round:
    view = (await who.client.get(f"/api/rounds/{round_id}")).json()
    return Round(
        id=UUID(view["id"]), track_id=UUID(view["track_id"]), seller=UUID(view["seller"]),
        usage=msgspec.convert(view["usage"], Usage), params=msgspec.convert(view["params"], VickreyParams),
        opens_at=datetime.fromisoformat(view["opens_at"]), deadline=datetime.fromisoformat(view["deadline"]),
        deadline_version=view["deadline_version"], extensions=view["extensions"],
    )  # fmt: skip
