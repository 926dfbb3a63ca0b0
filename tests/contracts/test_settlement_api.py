"""Settlement over HTTP: buy now with a quote, co-owner consent, deals for their parties only, earnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx

from contracts import service
from rights.model import LicensingPolicy, Mechanism
from rights.store import open_store
from rights.terms import Media, Money, RateCard
from tests.conftest import SignedIn, SignIn
from tests.contracts.world import USAGE, World, world

QUOTE = {"media": "online_ads", "territories": ["WORLD"], "term_months": 12, "start": "2027-01-01"}


async def _world(
    pg_pool: asyncpg.Pool, sign_in: SignIn, **options: Any
) -> tuple[World, SignedIn, SignedIn, SignedIn]:
    label, publisher, buyer = (
        await sign_in("rights_holder"),
        await sign_in("rights_holder"),
        await sign_in("buyer"),
    )
    async with pg_pool.acquire() as conn:
        built = await world(conn, label=label.principal, publisher=publisher.principal, buyer=buyer.principal,
                            **options)  # fmt: skip
    return built, label, publisher, buyer


async def _quote(buyer: SignedIn, track_id: UUID) -> dict[str, Any]:
    response = await buyer.client.post("/api/quotes", json={"track_id": str(track_id), **QUOTE})
    assert response.status_code == 201, response.text
    quote: dict[str, Any] = response.json()
    return quote


async def _accept(buyer: SignedIn, quote_id: str, key: str) -> httpx.Response:
    return await buyer.client.post(f"/api/quotes/{quote_id}/accept", headers={"Idempotency-Key": key})


async def test_a_buyer_gets_the_list_price_with_its_breakdown_and_buys_at_it(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, label, _, buyer = await _world(pg_pool, sign_in)
    quote = await _quote(buyer, w.track_id)
    # Both sides list 1,000.00 EUR for a whole licence: the master's 100 % plus 50 % + 50 % of publishing.
    assert quote["price"] == {"amount": 200_000, "currency": "EUR"} and quote["dynamic"] is False
    assert quote["breakdown"][-1]["subtotal"] == quote["price"]
    expires = datetime.fromisoformat(quote["expires_at"]) - datetime.fromisoformat(quote["created_at"])
    assert expires == timedelta(minutes=15)
    accepted = await _accept(buyer, quote["id"], "key-1")
    assert accepted.status_code == 201, accepted.text
    deal = accepted.json()
    assert deal["state"] == "awaiting_payment" and deal["source"] == "quote"
    assert deal["seller"] == str(label.principal.organisation_id)
    assert sum(p["share_bps"] for p in deal["payees"]) == 10_000


async def test_a_quote_accepted_twice_with_one_key_gives_one_deal_and_another_key_is_refused(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, _, _, buyer = await _world(pg_pool, sign_in)
    quote = await _quote(buyer, w.track_id)
    first, again = await _accept(buyer, quote["id"], "same"), await _accept(buyer, quote["id"], "same")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await _accept(buyer, quote["id"], "another")
    assert other.status_code == 409
    assert other.json()["detail"] == "this quote was already accepted; its deal is in your deals"


async def test_an_expired_quote_or_a_changed_policy_is_refused_with_a_sentence(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, _, _, buyer = await _world(pg_pool, sign_in)
    stale, changed = await _quote(buyer, w.track_id), await _quote(buyer, w.track_id)
    async with pg_pool.acquire() as conn:
        await conn.execute(
            "UPDATE deal_quotes SET created_at = created_at - interval '1 hour', expires_at = now() - interval '1 s'"
            " WHERE id = $1",
            UUID(stale["id"]),
        )
        card = RateCard(base=Money(150_000, "EUR"), media_bp={m: 10_000 for m in Media})
        await open_store(conn).put_policy(
            LicensingPolicy(id=uuid4(), party_id=w.publisher_party.id, rate_card=card, automated_media=frozenset(Media),
                            mechanisms={m: (Mechanism.FIXED_PRICE,) for m in Media})
        )  # fmt: skip
    expired = await _accept(buyer, stale["id"], "k")
    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    moved = await _accept(buyer, changed["id"], "k")
    assert moved.status_code == 409
    assert moved.json()["detail"] == (
        "the rights holders changed their licensing policy since this quote; ask for a new quote"
    )


async def test_a_track_that_is_not_clearable_now_at_a_fixed_price_gets_no_quote(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, _, _, buyer = await _world(pg_pool, sign_in, publisher_policy=False)
    response = await buyer.client.post("/api/quotes", json={"track_id": str(w.track_id), **QUOTE})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("this use cannot be bought now: Harbour Songs has not set")


async def test_a_bad_quote_request_names_the_field(pg_pool: asyncpg.Pool, sign_in: SignIn) -> None:
    w, _, _, buyer = await _world(pg_pool, sign_in)
    response = await buyer.client.post(
        "/api/quotes", json={"track_id": str(w.track_id), **QUOTE, "term_months": 0}
    )
    assert response.status_code == 400 and "term_months" in response.json()["detail"]
    missing_key = await buyer.client.post(f"/api/quotes/{uuid4()}/accept")
    assert missing_key.status_code == 400 and "Idempotency-Key" in missing_key.text


async def test_co_owner_approval_over_http_and_deals_are_seen_by_their_parties_only(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, label, publisher, buyer = await _world(pg_pool, sign_in, publisher_policy=False)
    async with pg_pool.acquire() as conn:
        deal = await service.create_deal(
            conn, source=service.DealSource.NEGOTIATION, source_id=uuid4(), track_id=w.track_id,
            seller=label.principal.organisation_id, buyer=buyer.principal.organisation_id,
            price=Money(250_000, "EUR"), usage=USAGE,
            mechanism=Mechanism.NEGOTIATION, agreed_at=datetime.now(UTC), actor=None,
        )  # fmt: skip
    seen = (await buyer.client.get(f"/api/deals/{deal.id}")).json()
    assert seen["deal"]["state"] == "awaiting_consent"
    assert {c["party_name"]: c["status"] for c in seen["consents"]} == {
        "Harbour Songs": "requested",
        "Northern Lights Records": "by_policy",
    }
    stranger = await sign_in("buyer")
    assert (await stranger.client.get(f"/api/deals/{deal.id}")).status_code == 404
    assert (await buyer.client.post(f"/api/deals/{deal.id}/consent/approve")).status_code == 403
    approved = await publisher.client.post(f"/api/deals/{deal.id}/consent/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["deal"]["state"] == "awaiting_payment"
    for party in (buyer, label, publisher):
        listed = (await party.client.get("/api/deals")).json()
        assert str(deal.id) in {d["id"] for d in listed}
    assert str(deal.id) not in {d["id"] for d in (await stranger.client.get("/api/deals")).json()}
    again = await publisher.client.post(f"/api/deals/{deal.id}/consent/decline")
    assert again.status_code == 409


async def test_earnings_and_the_csv_statement_add_up_to_the_fee_less_the_platforms(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, label, publisher, buyer = await _world(pg_pool, sign_in)
    deal_id = (await _accept(buyer, (await _quote(buyer, w.track_id))["id"], "k")).json()["id"]
    async with pg_pool.acquire() as conn, conn.transaction():
        await service.record_payment(conn, UUID(deal_id), method="card", reference=f"pi_{uuid4().hex}",
                                     amount=Money(200_000, "EUR"), now=datetime.now(UTC))  # fmt: skip
    nets = []
    for holder in (label, publisher):
        by_month = (await holder.client.get("/api/earnings", params={"group_by": "month"})).json()
        assert len(by_month) == 1 and by_month[0]["gross"] - by_month[0]["platform_fee"] == by_month[0]["net"]
        nets.append(by_month[0]["net"])
        csv = await holder.client.get("/api/earnings/statement.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        header, *rows = csv.text.strip().splitlines()
        assert header.startswith("isrc,title,territory,side,media,currency,gross,platform_fee,net,deal_id")
        assert all(row.startswith(f"{w.isrc},Night Drive,worldwide,") and deal_id in row for row in rows)
    assert sum(nets) == 200_000 - 30_000
    bad = await label.client.get("/api/earnings", params={"group_by": "artist"})
    assert bad.status_code == 400 and "group_by" in bad.json()["detail"]
