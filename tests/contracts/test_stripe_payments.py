"""Paying for a deal by card over HTTP, with the real `stripe` library against the stand-in and real signatures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import httpx
import msgspec
import pytest
import stripe
from litestar import Litestar

from contracts import service as deals
from contracts import store as deal_store
from contracts import stripe_jobs, stripe_service
from contracts.model import Deal, DealSource, DealState, Payee
from contracts.payments import StripeGateway
from marketplace.config import Settings
from marketplace.stripe_standin.process import ensure_webhook_endpoint, join
from rights import service as rights
from rights.terms import Media, Money, Usage
from tests.conftest import SignedIn, SignIn, free_port

PRICE = Money(10_000, "EUR")


class Sale(msgspec.Struct, frozen=True):
    seller: SignedIn
    buyer: SignedIn
    co_owner: SignedIn
    deal: Deal


MakeSale = Callable[..., Awaitable[Sale]]


@pytest.fixture
async def make_sale(sign_in: SignIn, pg_pool: asyncpg.Pool) -> MakeSale:
    """`await make_sale()`: a seller and a co-owner (60/40 of the fee), a buyer, and a deal awaiting payment."""

    async def make(*, state: DealState = DealState.AWAITING_PAYMENT) -> Sale:
        seller, co_owner, buyer = (
            await sign_in("rights_holder"), await sign_in("rights_holder"), await sign_in("buyer")
        )  # fmt: skip
        async with pg_pool.acquire() as conn, conn.transaction():
            track = await rights.create_track(
                conn,
                owner_organisation_id=seller.principal.organisation_id,
                title="Night Drive",
                artist="Zoë",
            )
            payees = (
                Payee(organisation_id=seller.principal.organisation_id, party_id=uuid4(), party_name="Zoë Records",
                      side="master", territory="WORLD", share_bps=6_000),
                Payee(organisation_id=co_owner.principal.organisation_id, party_id=uuid4(), party_name="Harbour Songs",
                      side="publishing", territory="WORLD", share_bps=4_000),
            )  # fmt: skip
            now = datetime.now(UTC)
            deal = await deal_store.insert_deal(
                conn,
                Deal(
                    id=uuid4(), source=DealSource.QUOTE, source_id=uuid4(), track_id=track.id,
                    seller=seller.principal.organisation_id, buyer=buyer.principal.organisation_id, price=PRICE,
                    usage=Usage(media=Media.ONLINE_ADS, territories=("DE",), term_months=12, start=date(2027, 1, 1)),
                    state=state, created_at=now, payees=payees, payment_due_at=now + timedelta(hours=72),
                ),
            )  # fmt: skip
        return Sale(seller=seller, buyer=buyer, co_owner=co_owner, deal=deal)

    return make


@pytest.fixture
def gateway(app: Litestar) -> StripeGateway:
    payments: StripeGateway = app.state.payments
    return payments


@pytest.fixture
def standin(settings: Settings) -> stripe.StripeClient:
    """A client of the session's stand-in, to look at Stripe's side as its dashboard would."""
    connection = join(settings.data_dir)
    return stripe.StripeClient(
        connection.api_key, base_addresses={"api": connection.api_base}, http_client=stripe.HTTPXClient()
    )


async def _deal_state(pool: asyncpg.Pool, deal_id: UUID) -> str:
    async with pool.acquire() as conn:
        state: str = await conn.fetchval("SELECT state FROM deals WHERE id = $1", deal_id)
        return state


async def _payments_recorded(pool: asyncpg.Pool, deal_id: UUID) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM deal_payments WHERE deal_id = $1 AND kind = 'payment'", deal_id
        )
        return count


async def _events_stored(pool: asyncpg.Pool, event_id: str) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM stripe_events WHERE event_id = $1", event_id)
        return count


def _signed(payload: bytes, secret: str, at: int | None = None) -> dict[str, str]:
    at = int(time.time()) if at is None else at
    signature = stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", secret)
    return {"Stripe-Signature": f"t={at},v1={signature}", "Content-Type": "application/json"}


async def _event_about(standin: stripe.StripeClient, kind: str, object_id: str) -> bytes:
    """Stripe's own event of that kind about that object, as the stand-in would deliver it."""
    listed = await standin.v1.events.list_async(params={"type": kind, "limit": 100})
    for event in listed.data:
        if event.data.object["id"] == object_id:
            return json.dumps(event.to_dict(recursive=True)).encode()
    raise AssertionError(f"no {kind} event about {object_id}")


async def _pay(sale: Sale, card: str = "pm_card_visa") -> httpx.Response:
    return await sale.buyer.client.post(
        f"/api/deals/{sale.deal.id}/payment/confirm", json={"payment_method": card}
    )


# ---- paying ------------------------------------------------------------------------------------


async def test_paying_with_a_test_card_licenses_the_deal(make_sale: MakeSale, pg_pool: asyncpg.Pool) -> None:
    sale = await make_sale()
    started = await sale.buyer.client.post(f"/api/deals/{sale.deal.id}/payment")
    assert started.status_code == 200, started.text
    assert started.json()["payment_intent_id"].startswith("pi_") and started.json()["client_secret"]
    paid = await _pay(sale)
    assert paid.status_code == 200, paid.text
    assert paid.json()["state"] == "licensed"
    assert await _payments_recorded(pg_pool, sale.deal.id) == 1


async def test_paying_twice_is_refused_and_charges_once(
    make_sale: MakeSale, pg_pool: asyncpg.Pool, standin: stripe.StripeClient
) -> None:
    sale = await make_sale()
    first = await sale.buyer.client.post(f"/api/deals/{sale.deal.id}/payment")
    again = await sale.buyer.client.post(f"/api/deals/{sale.deal.id}/payment")
    assert first.json()["payment_intent_id"] == again.json()["payment_intent_id"], (
        "one PaymentIntent per deal"
    )
    assert (await _pay(sale)).status_code == 200
    second = await _pay(sale)
    assert second.status_code == 409 and "licensed" in second.json()["detail"]
    intent = await standin.v1.payment_intents.retrieve_async(first.json()["payment_intent_id"])
    assert (intent.status, intent.amount_received, intent.transfer_group) == (
        "succeeded",
        10_000,
        str(sale.deal.id),
    )
    assert await _payments_recorded(pg_pool, sale.deal.id) == 1


async def test_a_declined_card_leaves_the_deal_awaiting_payment(
    make_sale: MakeSale, pg_pool: asyncpg.Pool
) -> None:
    sale = await make_sale()
    declined = await _pay(sale, "pm_card_chargeDeclined")
    assert declined.status_code == 402
    assert "declined" in declined.json()["detail"] and "nothing was charged" in declined.json()["detail"]
    assert await _deal_state(pg_pool, sale.deal.id) == "awaiting_payment"
    assert (await _pay(sale)).json()["state"] == "licensed", "another card may be tried"


@pytest.mark.parametrize("state", [DealState.CANCELLED, DealState.EXPIRED, DealState.AWAITING_CONSENT])
async def test_a_deal_not_awaiting_payment_cannot_be_paid(
    make_sale: MakeSale, pg_pool: asyncpg.Pool, state: DealState
) -> None:
    sale = await make_sale(state=state)
    refused = await _pay(sale)
    assert refused.status_code == 409
    assert state.value.replace("_", " ") in refused.json()["detail"]
    async with pg_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM card_payments WHERE deal_id = $1", sale.deal.id) == 0


async def test_only_the_buying_organisation_pays(make_sale: MakeSale, sign_in: SignIn) -> None:
    sale = await make_sale()
    assert (await sale.seller.client.post(f"/api/deals/{sale.deal.id}/payment")).status_code == 403
    stranger = await sign_in("buyer")
    assert (await stranger.client.post(f"/api/deals/{sale.deal.id}/payment")).status_code == 404


async def test_stripe_unreachable_leaves_the_deal_awaiting_payment_and_the_retry_is_safe(
    app: Litestar,
    make_sale: MakeSale,
    pg_pool: asyncpg.Pool,
    gateway: StripeGateway,
    standin: stripe.StripeClient,
) -> None:
    sale = await make_sale()
    app.state.payments = StripeGateway.connect(
        "sk_test_unreachable", api_base=f"http://127.0.0.1:{free_port()}", webhook_secret="whsec_unused",
        hold_days=gateway.hold_days, max_network_retries=0,
    )  # fmt: skip
    try:
        down = await _pay(sale)
    finally:
        await app.state.payments.close()
        app.state.payments = gateway
    assert down.status_code == 503 and "nothing was charged" in down.json()["detail"]
    assert await _deal_state(pg_pool, sale.deal.id) == "awaiting_payment"
    assert (await _pay(sale)).json()["state"] == "licensed"
    assert await _payments_recorded(pg_pool, sale.deal.id) == 1
    assert await _intents_made_for(standin, sale.deal.id) == 1


async def _intents_made_for(standin: stripe.StripeClient, deal_id: UUID) -> int:
    created = await standin.v1.events.list_async(params={"type": "payment_intent.created", "limit": 100})
    return sum(event.data.object["transfer_group"] == str(deal_id) for event in created.data)


# ---- webhooks ----------------------------------------------------------------------------------


async def _paid_at_stripe_only(sale: Sale, standin: stripe.StripeClient) -> str:
    """The buyer's card is charged at Stripe, but the app has not heard of it yet (a browser paid)."""
    started = await sale.buyer.client.post(f"/api/deals/{sale.deal.id}/payment")
    intent_id: str = started.json()["payment_intent_id"]
    await standin.v1.payment_intents.confirm_async(intent_id, params={"payment_method": "pm_card_visa"})
    return intent_id


async def test_a_signed_payment_webhook_licenses_the_deal_and_a_duplicate_does_nothing(
    make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    sale = await make_sale()
    intent_id = await _paid_at_stripe_only(sale, standin)
    payload = await _event_about(standin, "payment_intent.succeeded", intent_id)
    first = await client.post(
        "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
    )
    assert first.status_code == 200 and first.json() == {"received": "applied"}
    assert await _deal_state(pg_pool, sale.deal.id) == "licensed"
    again = await client.post(
        "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
    )
    assert again.status_code == 200 and again.json() == {"received": "repeat"}
    assert await _payments_recorded(pg_pool, sale.deal.id) == 1
    assert await _events_stored(pg_pool, json.loads(payload)["id"]) == 1


async def test_a_forged_or_unsigned_webhook_is_refused_and_changes_nothing(
    make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    sale = await make_sale()
    intent_id = await _paid_at_stripe_only(sale, standin)
    payload = await _event_about(standin, "payment_intent.succeeded", intent_id)
    forged = await client.post(
        "/api/stripe/webhook", content=payload, headers=_signed(payload, "whsec_forged")
    )
    unsigned = await client.post(
        "/api/stripe/webhook", content=payload, headers={"Content-Type": "application/json"}
    )
    stale = await client.post(
        "/api/stripe/webhook",
        content=payload,
        headers=_signed(payload, gateway.webhook_secret, int(time.time()) - 400),
    )
    tampered_body = payload.replace(b'"livemode": false', b'"livemode": true')
    tampered = await client.post(
        "/api/stripe/webhook", content=tampered_body, headers=_signed(payload, gateway.webhook_secret)
    )
    for refused in (forged, unsigned, stale, tampered):
        assert refused.status_code == 400 and "Stripe-Signature" in refused.json()["detail"]
    assert await _deal_state(pg_pool, sale.deal.id) == "awaiting_payment"
    assert await _events_stored(pg_pool, json.loads(payload)["id"]) == 0


async def test_a_webhook_about_a_payment_for_no_deal_of_ours_is_refused(
    client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient, pg_pool: asyncpg.Pool
) -> None:
    stray = await standin.v1.payment_intents.create_async(
        params={"amount": 500, "currency": "eur", "metadata": {"deal_id": str(uuid4())}}
    )
    await standin.v1.payment_intents.confirm_async(stray.id, params={"payment_method": "pm_card_visa"})
    payload = await _event_about(standin, "payment_intent.succeeded", stray.id)
    refused = await client.post(
        "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
    )
    assert refused.status_code == 400 and stray.id in refused.json()["detail"]
    assert await _events_stored(pg_pool, json.loads(payload)["id"]) == 0


async def test_a_failure_event_arriving_after_the_success_cannot_move_the_deal_back(
    make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    sale = await make_sale()
    started = await sale.buyer.client.post(f"/api/deals/{sale.deal.id}/payment")
    intent_id = started.json()["payment_intent_id"]
    with pytest.raises(stripe.CardError):
        await standin.v1.payment_intents.confirm_async(
            intent_id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    await standin.v1.payment_intents.confirm_async(intent_id, params={"payment_method": "pm_card_visa"})
    succeeded = await _event_about(standin, "payment_intent.succeeded", intent_id)
    failed = await _event_about(standin, "payment_intent.payment_failed", intent_id)
    for payload in (succeeded, failed):  # Stripe sent them in the other order
        answer = await client.post(
            "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
        )
        assert answer.status_code == 200, answer.text
    assert await _deal_state(pg_pool, sale.deal.id) == "licensed"
    async with pg_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, last_error FROM card_payments WHERE deal_id = $1", sale.deal.id
        )
    assert (row["status"], row["last_error"]) == ("succeeded", None)


async def test_the_webhook_and_the_synchronous_confirmation_racing_give_one_payment(
    make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    for _ in range(3):
        sale = await make_sale()
        intent_id = await _paid_at_stripe_only(sale, standin)
        payload = await _event_about(standin, "payment_intent.succeeded", intent_id)
        confirmed, delivered = await asyncio.gather(
            _pay(sale),
            client.post(
                "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
            ),
        )
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "licensed", confirmed.text
        assert delivered.status_code == 200, delivered.text
        assert await _payments_recorded(pg_pool, sale.deal.id) == 1
        async with pg_pool.acquire() as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM ledger_transactions WHERE deal_id = $1 AND kind = 'payment'",
                    sale.deal.id,
                )
                == 1
            )


async def test_webhooks_the_standin_delivers_reach_the_live_server(
    make_sale: MakeSale,
    live_server: str,
    settings: Settings,
    standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:
    ensure_webhook_endpoint(join(settings.data_dir), f"{live_server}/api/stripe/webhook")
    try:
        sale = await make_sale()
        intent_id = await _paid_at_stripe_only(sale, standin)
        deadline = time.monotonic() + 20
        while await _deal_state(pg_pool, sale.deal.id) != "licensed":
            assert time.monotonic() < deadline, (
                f"the signed webhook about {intent_id} never licensed the deal"
            )
            await asyncio.sleep(0.05)
    finally:  # later tests deliver their webhooks themselves
        for endpoint in (await standin.v1.webhook_endpoints.list_async()).data:
            await standin.v1.webhook_endpoints.delete_async(endpoint.id)


# ---- payouts and refunds -----------------------------------------------------------------------


async def _connect(rights_holder: SignedIn) -> str:
    """Onboard the organisation's Stripe account the way its people would: open the link, come back."""
    connected = await rights_holder.client.post("/api/organisation/stripe-account")
    assert connected.status_code == 200, connected.text
    async with httpx.AsyncClient() as browser:
        onboarding = await browser.get(connected.json()["url"])
    assert onboarding.status_code == 303
    status = await rights_holder.client.get("/api/organisation/stripe-account")
    assert status.json()["payouts_enabled"] is True
    account_id: str = connected.json()["account_id"]
    return account_id


async def _after_the_hold(app: Litestar, pool: asyncpg.Pool, deal_id: UUID) -> stripe_service.PayoutReport:
    later = datetime.now(UTC) + timedelta(days=app.state.payments.hold_days, minutes=1)
    return await stripe_service.pay_out_deal(pool, app.state.payments, deal_id, now=later)


async def _transfers_to(standin: stripe.StripeClient, deal_id: UUID) -> dict[str, stripe.Transfer]:
    created = await standin.v1.events.list_async(params={"type": "transfer.created", "limit": 100})
    found = [
        event.data.object for event in created.data if event.data.object["transfer_group"] == str(deal_id)
    ]
    return {t["destination"]: await standin.v1.transfers.retrieve_async(t["id"]) for t in found}


async def test_connecting_an_account_answers_an_onboarding_link_and_its_status(make_sale: MakeSale) -> None:
    sale = await make_sale()
    before = await sale.seller.client.get("/api/organisation/stripe-account")
    assert before.status_code == 200 and before.json()["connected"] is False
    account_id = await _connect(sale.seller)
    again = await sale.seller.client.post("/api/organisation/stripe-account")
    assert again.json()["account_id"] == account_id, "one account per organisation"
    assert (await sale.buyer.client.post("/api/organisation/stripe-account")).status_code == 403


async def test_payees_are_transferred_their_shares_after_the_hold(
    app: Litestar, make_sale: MakeSale, pg_pool: asyncpg.Pool, standin: stripe.StripeClient
) -> None:
    sale = await make_sale()
    seller_account, co_owner_account = await _connect(sale.seller), await _connect(sale.co_owner)
    assert (await _pay(sale)).status_code == 200
    early = await stripe_service.pay_out_deal(
        pg_pool, app.state.payments, sale.deal.id, now=datetime.now(UTC)
    )
    assert early.transferred == 0 or app.state.payments.hold_days == 0, "nothing moves inside the hold"
    report = await _after_the_hold(app, pg_pool, sale.deal.id)
    transfers = await _transfers_to(standin, sale.deal.id)
    assert set(transfers) == {seller_account, co_owner_account}
    intent = await standin.v1.payment_intents.retrieve_async(await _intent_of(pg_pool, sale.deal.id))
    assert all(t.source_transaction == intent.latest_charge for t in transfers.values())
    assert report.transferred == 2 and report.waiting_for_account == 0
    repeat = await _after_the_hold(app, pg_pool, sale.deal.id)
    assert repeat.transferred == 0 and len(await _transfers_to(standin, sale.deal.id)) == 2


async def _intent_of(pool: asyncpg.Pool, deal_id: UUID) -> str:
    async with pool.acquire() as conn:
        intent: str = await conn.fetchval(
            "SELECT payment_intent_id FROM card_payments WHERE deal_id = $1", deal_id
        )
        return intent


async def test_a_payee_without_a_connected_account_waits_visibly_and_is_paid_when_it_connects(
    app: Litestar, make_sale: MakeSale, pg_pool: asyncpg.Pool, standin: stripe.StripeClient
) -> None:
    sale = await make_sale()
    seller_account = await _connect(sale.seller)
    assert (await _pay(sale)).status_code == 200
    report = await _after_the_hold(app, pg_pool, sale.deal.id)
    assert (report.transferred, report.waiting_for_account) == (1, 1)
    assert set(await _transfers_to(standin, sale.deal.id)) == {seller_account}
    async with pg_pool.acquire() as conn:
        held = {
            line.organisation_id: int(line.amount) for line in await deals.payable_payees(conn, sale.deal.id)
        }
    co_owner_share = held[sale.co_owner.principal.organisation_id]
    assert 0 < co_owner_share <= 4_000, "its share (less its part of the platform fee) is held in the ledger"
    waiting = (await sale.co_owner.client.get("/api/organisation/stripe-account")).json()
    assert waiting["connected"] is False
    assert waiting["waiting"] == [
        {"deal_id": str(sale.deal.id), "amount": {"amount": co_owner_share, "currency": "EUR"}}
    ]
    co_owner_account = await _connect(sale.co_owner)
    report = await _after_the_hold(app, pg_pool, sale.deal.id)
    assert (report.transferred, report.waiting_for_account) == (1, 0)
    assert set(await _transfers_to(standin, sale.deal.id)) == {seller_account, co_owner_account}
    assert (await sale.co_owner.client.get("/api/organisation/stripe-account")).json()["waiting"] == []


async def test_a_refund_after_transfers_reverses_them_and_revokes_the_licence(
    app: Litestar, make_sale: MakeSale, pg_pool: asyncpg.Pool, standin: stripe.StripeClient
) -> None:
    sale = await make_sale()
    await _connect(sale.seller)
    await _connect(sale.co_owner)
    assert (await _pay(sale)).status_code == 200
    await _after_the_hold(app, pg_pool, sale.deal.id)
    assert (await sale.buyer.client.post(f"/api/deals/{sale.deal.id}/refund")).status_code == 403
    refunded = await sale.seller.client.post(f"/api/deals/{sale.deal.id}/refund")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["state"] == "refunded"
    transfers = await _transfers_to(standin, sale.deal.id)
    assert len(transfers) == 2 and all(t.reversed for t in transfers.values())
    charge = await standin.v1.charges.retrieve_async(
        str(
            (
                await standin.v1.payment_intents.retrieve_async(await _intent_of(pg_pool, sale.deal.id))
            ).latest_charge
        )
    )
    assert charge.refunded
    again = await sale.seller.client.post(f"/api/deals/{sale.deal.id}/refund")
    assert again.status_code == 409


async def test_money_that_arrives_after_the_deal_closed_is_refunded_not_kept(
    make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    sale = await make_sale()
    intent_id = await _paid_at_stripe_only(sale, standin)
    async with pg_pool.acquire() as conn:  # the payment deadline passed while the buyer's bank answered
        await conn.execute("UPDATE deals SET state = 'expired' WHERE id = $1", sale.deal.id)
    payload = await _event_about(standin, "payment_intent.succeeded", intent_id)
    answer = await client.post(
        "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
    )
    assert answer.status_code == 200 and answer.json() == {"received": "refunded"}
    intent = await standin.v1.payment_intents.retrieve_async(intent_id)
    assert (await standin.v1.charges.retrieve_async(str(intent.latest_charge))).refunded
    assert await _deal_state(pg_pool, sale.deal.id) == "expired"
    assert await _payments_recorded(pg_pool, sale.deal.id) == 0
    assert await _events_stored(pg_pool, json.loads(payload)["id"]) == 1


async def test_a_refund_made_at_stripe_reaches_the_deal_through_its_webhook(
    make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway, standin: stripe.StripeClient,
    pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    sale = await make_sale()
    assert (await _pay(sale)).status_code == 200
    intent_id = await _intent_of(pg_pool, sale.deal.id)
    await standin.v1.refunds.create_async(params={"payment_intent": intent_id})  # from Stripe's dashboard
    intent = await standin.v1.payment_intents.retrieve_async(intent_id)
    payload = await _event_about(standin, "charge.refunded", str(intent.latest_charge))
    for expected in ("applied", "repeat"):
        answer = await client.post(
            "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
        )
        assert answer.json() == {"received": expected}
    assert await _deal_state(pg_pool, sale.deal.id) == "refunded"
    async with pg_pool.acquire() as conn:
        revoked = await conn.fetchval(
            "SELECT revoked_at IS NOT NULL FROM licences WHERE deal_id = $1", sale.deal.id
        )
    assert revoked, "a refund revokes the licence"


async def test_an_oversized_webhook_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/stripe/webhook", content=b"{" + b" " * 300_000 + b"}")
    assert answer.status_code == 413


async def test_two_confirmations_at_once_charge_the_card_once(
    make_sale: MakeSale, pg_pool: asyncpg.Pool, standin: stripe.StripeClient
) -> None:
    sale = await make_sale()
    answers = await asyncio.gather(_pay(sale), _pay(sale))
    assert sorted(answer.status_code for answer in answers)[0] == 200, [a.text for a in answers]
    assert {answer.status_code for answer in answers} <= {200, 409}
    assert await _deal_state(pg_pool, sale.deal.id) == "licensed"
    assert await _payments_recorded(pg_pool, sale.deal.id) == 1
    assert await _intents_made_for(standin, sale.deal.id) == 1


async def test_a_payment_sets_a_timer_for_the_payees_transfers_at_the_end_of_the_hold(
    app: Litestar, make_sale: MakeSale
) -> None:
    sale = await make_sale()
    paid_at = datetime.now(UTC)
    assert (await _pay(sale)).status_code == 200
    queued = {
        job_id.decode(): score
        for job_id, score in await app.state.jobs.zrange("arq:queue", 0, -1, withscores=True)
        if job_id.decode().startswith(f"payouts:{sale.deal.id}:")
    }
    assert len(queued) == 1, "one transfer timer per paid deal"
    due = datetime.fromtimestamp(next(iter(queued.values())) / 1000, UTC)
    hold = timedelta(days=app.state.payments.hold_days)
    assert paid_at + hold - timedelta(seconds=5) <= due <= datetime.now(UTC) + hold


@pytest.mark.parametrize("card", ["", "pm_card_unknown"])
async def test_a_payment_method_that_is_not_a_card_is_a_400_naming_it(make_sale: MakeSale, card: str) -> None:
    sale = await make_sale()
    refused = await _pay(sale, card)
    assert refused.status_code == 400
    assert "payment_method" in refused.text or "PaymentMethod" in refused.text


async def test_an_account_finishing_onboarding_at_stripe_releases_its_waiting_payouts(
    app: Litestar, make_sale: MakeSale, client: httpx.AsyncClient, gateway: StripeGateway,
    standin: stripe.StripeClient, pg_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    sale = await make_sale()
    assert (await _pay(sale)).status_code == 200
    async with pg_pool.acquire() as conn:  # the hold has passed, and nobody could be paid: both wait
        await conn.execute(
            "UPDATE card_payments SET payouts_due_at = now() - interval '1 minute' WHERE deal_id = $1",
            sale.deal.id,
        )
    connected = (await sale.co_owner.client.post("/api/organisation/stripe-account")).json()
    async with httpx.AsyncClient() as browser:  # onboarding finishes on Stripe's side only
        await browser.get(connected["url"])
    payload = await _event_about(standin, "account.updated", connected["account_id"])
    answer = await client.post(
        "/api/stripe/webhook", content=payload, headers=_signed(payload, gateway.webhook_secret)
    )
    assert answer.json() == {"received": "applied"}
    async with pg_pool.acquire() as conn:
        enabled = await conn.fetchval(
            "SELECT payouts_enabled FROM stripe_accounts WHERE account_id = $1", connected["account_id"]
        )
    assert enabled
    due_now = datetime.now(UTC) + timedelta(minutes=1)
    assert any(
        job.decode().startswith(f"payouts:{sale.deal.id}:") and score / 1000 <= due_now.timestamp()
        for job, score in await app.state.jobs.zrange("arq:queue", 0, -1, withscores=True)
    ), "the deal's transfers are due now, not only at the end of the hold"
    report = await stripe_jobs.pay_out_deal({"pool": pg_pool, "payments": gateway}, str(sale.deal.id))
    assert report == {"transferred": 1, "waiting": 1, "failed": 0}
    assert set(await _transfers_to(standin, sale.deal.id)) == {connected["account_id"]}


async def test_an_oversized_payment_confirmation_is_refused_before_it_is_read(make_sale: MakeSale) -> None:
    sale = await make_sale()
    answer = await sale.buyer.client.post(
        f"/api/deals/{sale.deal.id}/payment/confirm", json={"payment_method": "pm_card_visa" + " " * 10_000}
    )
    assert answer.status_code == 413
