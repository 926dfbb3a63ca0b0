"""The Stripe gateway against the stand-in the app starts under its data dir, at the Stripe level."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import stripe

from contracts.payments import (
    CardDeclined,
    PaymentProviderUnavailable,
    PaymentRefused,
    StripeGateway,
    WebhookRefused,
)
from marketplace.config import Settings
from marketplace.embedded import stripe_gateway
from rights.terms import Money
from tests.conftest import free_port


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[StripeGateway]:
    opened = stripe_gateway(settings)
    yield opened
    await opened.close()


async def test_the_payment_key_gives_one_payment_intent_however_often_it_is_sent(
    gateway: StripeGateway,
) -> None:
    first = await gateway.create_payment_intent(
        amount=Money(4900, "EUR"), deal_id="deal-a", description="Licence", idempotency_key="deal:a:payment"
    )
    again = await gateway.create_payment_intent(
        amount=Money(4900, "EUR"), deal_id="deal-a", description="Licence", idempotency_key="deal:a:payment"
    )
    assert again.id == first.id
    assert (first.amount, first.deal_id, first.status) == (
        Money(4900, "EUR"),
        "deal-a",
        "requires_payment_method",
    )


async def test_a_declined_card_is_a_402_sentence_and_the_intent_can_be_paid_later(
    gateway: StripeGateway,
) -> None:
    intent = await gateway.create_payment_intent(
        amount=Money(1200, "GBP"), deal_id="deal-b", description="Licence", idempotency_key="deal:b:payment"
    )
    with pytest.raises(CardDeclined, match="declined") as declined:
        await gateway.confirm_payment_intent(intent.id, payment_method="pm_card_chargeDeclined")
    assert declined.value.status_code == 402
    assert (await gateway.retrieve_payment_intent(intent.id)).failure == "Your card was declined."
    paid = await gateway.confirm_payment_intent(intent.id, payment_method="pm_card_visa")
    assert paid.status == "succeeded" and paid.charge_id is not None


async def test_a_transfer_to_an_account_not_onboarded_is_refused(gateway: StripeGateway) -> None:
    account = await gateway.create_account(
        organisation_id="org-1", idempotency_key="organisation:1:stripe-account"
    )
    assert not account.can_receive_transfers
    intent = await gateway.create_payment_intent(
        amount=Money(1000, "EUR"), deal_id="deal-c", description="Licence", idempotency_key="deal:c:payment"
    )
    paid = await gateway.confirm_payment_intent(intent.id, payment_method="pm_card_visa")
    assert paid.charge_id is not None
    with pytest.raises(PaymentRefused, match="capabilities"):
        await gateway.transfer(
            amount=Money(500, "EUR"), destination=account.id, source_charge=paid.charge_id,
            transfer_group="deal-c", idempotency_key="deal:c:transfer:org-1",
        )  # fmt: skip


async def test_an_unreachable_stripe_is_a_503_saying_nothing_was_charged() -> None:
    unreachable = StripeGateway.connect(
        "sk_test_nobody", api_base=f"http://127.0.0.1:{free_port()}", webhook_secret="whsec_x", hold_days=0,
        max_network_retries=0,
    )  # fmt: skip
    with pytest.raises(PaymentProviderUnavailable, match="nothing was charged") as down:
        await unreachable.create_payment_intent(
            amount=Money(100, "EUR"),
            deal_id="deal-d",
            description="Licence",
            idempotency_key="deal:d:payment",
        )
    assert down.value.status_code == 503
    await unreachable.close()


def test_a_webhook_signed_with_another_secret_or_stale_is_refused(gateway: StripeGateway) -> None:
    payload = '{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {}}}'
    now = int(time.time())
    signed = stripe.WebhookSignature._compute_signature(f"{now}.{payload}", gateway.webhook_secret)
    assert gateway.verify_webhook(payload.encode(), f"t={now},v1={signed}").id == "evt_1"
    forged = stripe.WebhookSignature._compute_signature(f"{now}.{payload}", "whsec_someone_else")
    stale = stripe.WebhookSignature._compute_signature(f"{now - 301}.{payload}", gateway.webhook_secret)
    for header in (f"t={now},v1={forged}", f"t={now - 301},v1={stale}", None, "garbage"):
        with pytest.raises(WebhookRefused):
            gateway.verify_webhook(payload.encode(), header)
    with pytest.raises(WebhookRefused):
        gateway.verify_webhook(b"not json", f"t={now},v1={signed}")
