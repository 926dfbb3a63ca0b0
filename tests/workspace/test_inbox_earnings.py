"""The workspace's inbox and earnings over HTTP: negotiations from every buyer answered from the page,
co-owner consent given from the page (only by the co-owner asked), licence requests, and earnings with
their charts, payouts and the Stripe account."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx

from contracts import service as contracts
from rights.model import Mechanism
from rights.terms import Money
from tests.auction.live import USAGE, eur, new_track
from tests.conftest import SignedIn, SignIn
from tests.contracts.world import USAGE as DEAL_USAGE
from tests.contracts.world import World, world

HTML = {"accept": "text/html"}
NEGOTIATION = {"mechanism": "negotiation", "floor": eur(50_000), "ceiling": eur(500_000),
               "auto_accept_at": eur(400_000), "max_rounds": 6, "response_seconds": 3600}  # fmt: skip


def _alert(page: httpx.Response) -> str:
    found = re.search(r'<p class="alert" role="alert">(.*?)</p>', page.text, re.DOTALL)
    assert found, "the page shows no refusal"
    return found.group(1)


async def _world(
    pg_pool: asyncpg.Pool, sign_in: SignIn, **options: Any
) -> tuple[World, SignedIn, SignedIn, SignedIn]:
    label, publisher = await sign_in("rights_holder"), await sign_in("rights_holder")
    buyer = await sign_in("buyer", organisation=f"Brightside Agency {uuid4().hex[:6]}")
    async with pg_pool.acquire() as conn:
        built = await world(conn, label=label.principal, publisher=publisher.principal, buyer=buyer.principal,
                            **options)  # fmt: skip
    return built, label, publisher, buyer


async def _negotiation_round(pg_pool: asyncpg.Pool, seller: SignedIn) -> str:
    track = await new_track(pg_pool, seller, "Slow Tide")
    opened = await seller.client.post("/api/rounds", json={
        "track_id": str(track), "usage": USAGE, "params": NEGOTIATION, "duration_seconds": 3600})  # fmt: skip
    assert opened.status_code == 201, opened.text
    round_id: str = opened.json()["id"]
    return round_id


async def test_every_buyers_negotiation_is_in_the_inbox_and_is_answered_from_it(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    alice = await sign_in("buyer", organisation=f"Alice Adverts {uuid4().hex[:6]}")
    bob = await sign_in("buyer", organisation=f"Bob Films {uuid4().hex[:6]}")
    round_id = await _negotiation_round(pg_pool, label)
    offers = {}
    for buyer, amount in ((alice, 100_000), (bob, 150_000)):
        made = await buyer.client.post(f"/api/rounds/{round_id}/negotiations", json={"amount": eur(amount)})
        assert made.status_code == 201, made.text
        offers[buyer] = made.json()["id"]

    inbox = await label.client.get("/workspace/inbox", headers=HTML)

    assert inbox.status_code == 200
    assert "Alice Adverts" in inbox.text and "Bob Films" in inbox.text, "every buyer, not only the latest"
    assert (
        "offered <strong>1,000.00 EUR</strong>" in inbox.text
        and "offered <strong>1,500.00 EUR</strong>" in inbox.text
    )
    countered = await label.client.post(f"/workspace/negotiations/{offers[alice]}/counter",
                                        data={"amount": "3,000", "currency": "EUR"})  # fmt: skip
    assert (
        countered.status_code == 303
        and countered.headers["location"] == "/workspace/inbox?done=offer-counter"
    )
    seen = (await alice.client.get(f"/api/negotiations/{offers[alice]}")).json()
    assert seen["offers"][-1]["amount"] == eur(300_000) and seen["offers"][-1]["party"] == "rights_holder"

    accepted = await label.client.post(f"/workspace/negotiations/{offers[bob]}/accept")
    assert accepted.status_code == 303
    assert (await bob.client.get(f"/api/negotiations/{offers[bob]}")).json()["state"] == "accepted"
    after = await label.client.get(accepted.headers["location"], headers=HTML)
    assert (
        "You accepted the offer: the deal is made." in after.text and "Agreed at 1,500.00 EUR." in after.text
    )

    stranger = await sign_in("rights_holder")
    refused = await stranger.client.post(f"/workspace/negotiations/{offers[alice]}/accept", headers=HTML)
    assert refused.status_code == 404
    unreadable = await label.client.post(f"/workspace/negotiations/{offers[alice]}/counter", headers=HTML,
                                         data={"amount": "lots", "currency": "EUR"})  # fmt: skip
    assert unreadable.status_code == 400 and _alert(unreadable) == "Counter-offer: “lots” is not a number."


async def test_a_co_owner_approves_a_deal_from_its_inbox_and_nobody_else_can(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    w, label, publisher, buyer = await _world(pg_pool, sign_in, publisher_policy=False)
    async with pg_pool.acquire() as conn:
        deal = await contracts.create_deal(
            conn, source=contracts.DealSource.NEGOTIATION, source_id=uuid4(), track_id=w.track_id,
            seller=label.principal.organisation_id, buyer=buyer.principal.organisation_id,
            price=Money(250_000, "EUR"), usage=DEAL_USAGE, mechanism=Mechanism.NEGOTIATION,
            agreed_at=datetime.now(UTC), actor=None,
        )  # fmt: skip

    asked = await publisher.client.get("/workspace/inbox", headers=HTML)
    assert (
        "<strong>Night Drive</strong>: Brightside Agency" in asked.text and "for 2,500.00 EUR" in asked.text
    )
    assert "Asked of Harbour Songs" in asked.text
    assert (
        "No deal is waiting for your consent."
        in (await label.client.get("/workspace/inbox", headers=HTML)).text
    )

    not_asked = await label.client.post(f"/workspace/deals/{deal.id}/consent/approve", headers=HTML)
    assert not_asked.status_code == 403 and "was not asked to consent" in not_asked.text
    approved = await publisher.client.post(f"/workspace/deals/{deal.id}/consent/approve")
    assert (
        approved.status_code == 303
        and approved.headers["location"] == "/workspace/inbox?done=consent-approved"
    )
    assert (await buyer.client.get(f"/api/deals/{deal.id}")).json()["deal"]["state"] == "awaiting_payment"
    again = await publisher.client.post(f"/workspace/deals/{deal.id}/consent/decline", headers=HTML)
    assert again.status_code == 409
    assert _alert(again) == "This deal is awaiting payment: consent can no longer change."


async def test_a_licence_request_is_in_the_inbox_with_a_round_for_that_use_one_click_away(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    w, label, _, buyer = await _world(pg_pool, sign_in, publisher_policy=False)
    body = {
        "track_id": str(w.track_id),
        "usage": {**USAGE, "territories": ["DE", "AT"]},
        "message": "Spring campaign",
    }
    assert (await buyer.client.post("/api/rights/licence-requests", json=body)).status_code == 201

    inbox = await label.client.get("/workspace/inbox", headers=HTML)

    assert (
        "asks for a non-exclusive online ads licence" in inbox.text
        and "<strong>Night Drive</strong>" in inbox.text
    )
    assert "<blockquote>Spring campaign</blockquote>" in inbox.text
    (link,) = re.findall(r'href="(/workspace/tracks/[^"]+/round\?[^"]+)"', inbox.text)
    form = await label.client.get(link.replace("&amp;", "&"), headers=HTML)
    assert form.status_code == 200
    assert 'name="territories" value="DE,AT"' in form.text and 'value="2027-01-01"' in form.text


async def test_earnings_show_bars_by_month_track_and_territory_and_the_account_to_connect(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    w, label, _, buyer = await _world(pg_pool, sign_in)
    empty = await label.client.get("/workspace/earnings", headers=HTML)
    assert "Nothing earned yet" in empty.text
    quote = (await buyer.client.post("/api/quotes", json={"track_id": str(w.track_id), **USAGE})).json()
    deal = (
        await buyer.client.post(f"/api/quotes/{quote['id']}/accept", headers={"Idempotency-Key": "k"})
    ).json()
    async with pg_pool.acquire() as conn, conn.transaction():
        await contracts.record_payment(conn, UUID(deal["id"]), method="card", reference=f"pi_{uuid4().hex}",
                                       amount=Money(deal["price"]["amount"], "EUR"), now=datetime.now(UTC))  # fmt: skip
    async with pg_pool.acquire() as conn:
        (by_month,) = await contracts.earnings(conn, label.principal, "month")

    page = await label.client.get("/workspace/earnings", headers=HTML)

    assert page.status_code == 200
    net = Money(by_month.net, "EUR").display()
    assert f"Earned after the platform fee: <strong>{net}</strong>." in page.text
    for heading in ("By month", "By track", "By territory"):
        assert f">{heading}</h2>" in page.text
    assert f"Night Drive ({w.isrc})" in page.text and ">worldwide</th>" in page.text
    assert page.text.count('<rect width="1000"') == 3, "one full bar per chart"
    assert 'href="/api/earnings/statement.csv"' in page.text
    assert "No Stripe account is connected" in page.text
    connect = await label.client.post("/workspace/earnings/stripe")
    assert connect.status_code == 303 and connect.headers["location"].startswith("http")
    connected = await label.client.get("/workspace/earnings", headers=HTML)
    assert "is connected but Stripe cannot pay it yet" in connected.text
    assert "Finish onboarding at Stripe" in connected.text


async def test_a_buyer_has_no_inbox_or_earnings_pages(sign_in: SignIn) -> None:
    buyer = await sign_in("buyer")
    for path in ("/workspace/inbox", "/workspace/earnings"):
        refused = await buyer.client.get(path, headers=HTML)
        assert refused.status_code == 403 and "rights holder" in refused.text


async def test_a_catalogue_wide_policy_is_shown_on_the_tracks_policy_page(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    w, label, _, _ = await _world(pg_pool, sign_in)
    page = await label.client.get(f"/workspace/tracks/{w.track_id}/policy", headers=HTML)
    assert "Your catalogue-wide policy applies to this track" in page.text
    assert 'name="mechanism_film_vickrey" id="mechanism_film_vickrey" checked' in page.text
