"""The Stripe stand-in, spoken to by the real `stripe` library as the marketplace speaks to Stripe."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from tests.stripe_standin.conftest import WEBHOOK_SECRET, Receiver, StartStandin, serve, stripe_client

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "stripe" / "fixtures3.json"


def _shape_differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where `ours` lacks Stripe's keys, has others, or holds another type (null matches any type)."""
    if ours is None or theirs is None or path.endswith(".metadata"):  # metadata holds the caller's own keys
        return []
    if isinstance(theirs, dict) and isinstance(ours, dict):
        problems = [f"{path}.{key}: missing" for key in theirs.keys() - ours.keys()]
        problems += [f"{path}.{key}: not in Stripe's object" for key in ours.keys() - theirs.keys()]
        for key in theirs.keys() & ours.keys():
            problems += _shape_differences(ours[key], theirs[key], f"{path}.{key}")
        return problems
    if isinstance(theirs, list) and isinstance(ours, list):
        return (
            [p for item in ours[:1] for p in _shape_differences(item, theirs[0], f"{path}[0]")]
            if theirs
            else []
        )
    if type(ours) is not type(theirs):
        return [f"{path}: {type(ours).__name__}, Stripe has {type(theirs).__name__}"]
    return []


async def _paid_intent(client: stripe.StripeClient, amount: int = 2000) -> stripe.PaymentIntent:
    intent = await client.v1.payment_intents.create_async(
        params={"amount": amount, "currency": "eur", "metadata": {"deal_id": "d-1"}, "transfer_group": "d-1"}
    )
    return await client.v1.payment_intents.confirm_async(intent.id, params={"payment_method": "pm_card_visa"})


async def _onboarded_account(client: stripe.StripeClient) -> stripe.Account:
    account = await client.v1.accounts.create_async(params={"type": "express", "country": "DE"})
    link = await client.v1.account_links.create_async(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "http://app.test/again",
            "return_url": "http://app.test/done",
        }
    )
    async with httpx.AsyncClient() as http:
        response = await http.get(link.url)
    assert response.status_code == 303 and response.headers["location"] == "http://app.test/done"
    return await client.v1.accounts.retrieve_async(account.id)


async def test_every_object_kind_has_the_keys_and_types_of_stripes_published_example(
    standin: stripe.StripeClient,
) -> None:
    if not FIXTURES.exists():
        pytest.skip(f"Stripe's published examples are not beside the repository ({FIXTURES})")
    examples = json.loads(FIXTURES.read_text())["resources"]
    intent = await _paid_intent(standin)
    account = await _onboarded_account(standin)
    transfer = await standin.v1.transfers.create_async(
        params={
            "amount": 500,
            "currency": "eur",
            "destination": account.id,
            "source_transaction": intent.latest_charge,
        }
    )
    reversal = await standin.v1.transfers.reversals.create_async(transfer.id, params={"amount": 100})
    refund = await standin.v1.refunds.create_async(params={"payment_intent": intent.id, "amount": 300})
    charge = await standin.v1.charges.retrieve_async(str(intent.latest_charge))
    link = await standin.v1.account_links.create_async(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "http://a.test/r",
            "return_url": "http://a.test/d",
        }
    )
    endpoint = await standin.v1.webhook_endpoints.create_async(
        params={"url": "http://a.test/h", "enabled_events": ["*"]}
    )
    event = (await standin.v1.events.list_async(params={"limit": 1})).data[0]
    txn = await standin.v1.balance_transactions.retrieve_async(str(charge.balance_transaction))
    returned = {
        "payment_intent": intent, "charge": charge, "refund": refund, "transfer": transfer,
        "transfer_reversal": reversal, "account": account, "account_link": link, "event": event,
        "balance_transaction": txn,
        "webhook_endpoint": await standin.v1.webhook_endpoints.retrieve_async(endpoint.id),
    }  # fmt: skip
    for kind, found in returned.items():
        ours = found.to_dict(recursive=True)
        if kind == "event":  # an event's data.object is whichever object it is about
            ours = {**ours, "data": {}}
            theirs = {**examples[kind], "data": {}}
        else:
            theirs = examples[kind]
        assert _shape_differences(ours, theirs, kind) == [], kind


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(
    standin: stripe.StripeClient,
) -> None:
    params = {"amount": 1500, "currency": "eur", "transfer_group": "deal-1"}
    first = await standin.v1.payment_intents.create_async(
        params=params, options={"idempotency_key": "deal:1:payment"}
    )
    again = await standin.v1.payment_intents.create_async(
        params=params, options={"idempotency_key": "deal:1:payment"}
    )
    assert again.id == first.id
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        await standin.v1.payment_intents.create_async(
            params={**params, "amount": 1600}, options={"idempotency_key": "deal:1:payment"}
        )


async def test_a_declined_test_card_fails_as_stripe_fails_it(standin: stripe.StripeClient) -> None:
    intent = await standin.v1.payment_intents.create_async(params={"amount": 900, "currency": "gbp"})
    with pytest.raises(stripe.CardError) as declined:
        await standin.v1.payment_intents.confirm_async(
            intent.id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    after = await standin.v1.payment_intents.retrieve_async(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error is not None and after.last_payment_error.decline_code == "generic_decline"
    kinds = [event.type for event in (await standin.v1.events.list_async(params={"limit": 2})).data]
    assert kinds == ["payment_intent.payment_failed", "charge.failed"]
    paid = await standin.v1.payment_intents.confirm_async(
        intent.id, params={"payment_method": "pm_card_visa"}
    )
    assert paid.status == "succeeded" and paid.amount_received == 900


async def test_a_paid_intent_cannot_be_confirmed_again(standin: stripe.StripeClient) -> None:
    intent = await _paid_intent(standin)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await standin.v1.payment_intents.confirm_async(intent.id, params={"payment_method": "pm_card_visa"})
    assert refused.value.code == "payment_intent_unexpected_state"


async def test_transfers_need_an_onboarded_destination_and_a_source_transaction_before_funds_settle(
    standin: stripe.StripeClient,
) -> None:
    intent = await _paid_intent(standin, amount=1000)
    pending = await standin.v1.accounts.create_async(params={"type": "express", "country": "DE"})
    assert not pending.charges_enabled and not pending.payouts_enabled
    with pytest.raises(stripe.InvalidRequestError) as not_onboarded:
        await standin.v1.transfers.create_async(
            params={"amount": 100, "currency": "eur", "destination": pending.id}
        )
    assert not_onboarded.value.code == "insufficient_capabilities_for_transfer"

    account = await _onboarded_account(standin)
    assert account.charges_enabled and account.payouts_enabled
    with pytest.raises(stripe.InvalidRequestError) as no_funds:
        await standin.v1.transfers.create_async(
            params={"amount": 100, "currency": "eur", "destination": account.id}
        )
    assert no_funds.value.code == "balance_insufficient"

    source = {"currency": "eur", "destination": account.id, "source_transaction": intent.latest_charge,
              "transfer_group": "d-1"}  # fmt: skip
    transfer = await standin.v1.transfers.create_async(params={**source, "amount": 700})
    assert transfer.source_transaction == intent.latest_charge and transfer.transfer_group == "d-1"
    with pytest.raises(stripe.InvalidRequestError, match="must not exceed"):
        await standin.v1.transfers.create_async(params={**source, "amount": 301})


async def test_a_refund_marks_the_charge_and_a_reversal_the_transfer(standin: stripe.StripeClient) -> None:
    intent = await _paid_intent(standin, amount=1000)
    account = await _onboarded_account(standin)
    transfer = await standin.v1.transfers.create_async(
        params={
            "amount": 600,
            "currency": "eur",
            "destination": account.id,
            "source_transaction": intent.latest_charge,
        }
    )
    refund = await standin.v1.refunds.create_async(params={"payment_intent": intent.id})
    assert (refund.amount, refund.status) == (1000, "succeeded")
    charge = await standin.v1.charges.retrieve_async(str(intent.latest_charge))
    assert charge.refunded and charge.amount_refunded == 1000
    with pytest.raises(stripe.InvalidRequestError, match="already been refunded"):
        await standin.v1.refunds.create_async(params={"payment_intent": intent.id})
    await standin.v1.transfers.reversals.create_async(transfer.id, params={"amount": 600})
    reversed_transfer = await standin.v1.transfers.retrieve_async(transfer.id)
    assert reversed_transfer.reversed and reversed_transfer.amount_reversed == 600


async def test_unknown_parameters_and_wrong_keys_are_refused(
    start_standin: StartStandin, tmp_path: Path
) -> None:
    running = await start_standin(tmp_path / "state.sqlite3")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await stripe_client(running.url).v1.payment_intents.create_async(
            params={"amount": 100, "currency": "eur", "colour": "blue"}  # type: ignore[typeddict-unknown-key]
        )
    assert unknown.value.param == "colour"
    with pytest.raises(stripe.AuthenticationError):
        await stripe_client(running.url, api_key="sk_test_someone_else").v1.events.list_async()


async def _wait_for(condition: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_webhooks_are_signed_for_real_and_retried_until_accepted(
    start_standin: StartStandin, tmp_path: Path
) -> None:
    receiver = Receiver(failures=2)
    endpoint = await serve(receiver)
    try:
        client = stripe_client((await start_standin(tmp_path / "state.sqlite3")).url)
        created = await client.v1.webhook_endpoints.create_async(
            params={"url": endpoint.url, "enabled_events": ["payment_intent.succeeded"]}
        )
        assert created.secret == WEBHOOK_SECRET
        intent = await _paid_intent(client)
        await _wait_for(lambda: receiver.received)
        assert receiver.attempts == 3, "two refusals, then the delivery that was accepted"
        body, signature = receiver.received[0]
        event = stripe.Webhook.construct_event(body, signature, WEBHOOK_SECRET, tolerance=300)
        assert event.type == "payment_intent.succeeded" and event.data.object["id"] == intent.id
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, signature, "whsec_forged", tolerance=300)
    finally:
        await endpoint.stop()


async def test_a_restarted_standin_remembers_its_objects_and_keys(
    start_standin: StartStandin, tmp_path: Path
) -> None:
    first = await start_standin(tmp_path / "state.sqlite3")
    intent = await _paid_intent(stripe_client(first.url))
    params = {"amount": 100, "currency": "eur"}
    kept = await stripe_client(first.url).v1.payment_intents.create_async(
        params=params, options={"idempotency_key": "k"}
    )
    await first.stop()
    second = stripe_client((await start_standin(tmp_path / "state.sqlite3")).url)
    assert (await second.v1.payment_intents.retrieve_async(intent.id)).status == "succeeded"
    again = await second.v1.payment_intents.create_async(params=params, options={"idempotency_key": "k"})
    assert again.id == kept.id


async def test_webhooks_not_yet_delivered_are_sent_after_a_restart(
    start_standin: StartStandin, tmp_path: Path
) -> None:
    receiver = Receiver(failures=1_000)
    endpoint = await serve(receiver)
    try:
        first = await start_standin(tmp_path / "state.sqlite3")
        client = stripe_client(first.url)
        await client.v1.webhook_endpoints.create_async(
            params={"url": endpoint.url, "enabled_events": ["payment_intent.succeeded"]}
        )
        intent = await _paid_intent(client)
        await _wait_for(lambda: receiver.attempts >= 1)
        await first.stop()
        receiver.failures = 0  # the endpoint is back
        await start_standin(tmp_path / "state.sqlite3")
        await _wait_for(lambda: receiver.received)
        event = stripe.Webhook.construct_event(
            receiver.received[0][0], receiver.received[0][1], WEBHOOK_SECRET
        )
        assert event.data.object["id"] == intent.id
    finally:
        await endpoint.stop()


async def test_a_key_remembers_what_acted_but_not_what_validation_refused(
    standin: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await standin.v1.payment_intents.create_async(
            params={"amount": 0, "currency": "eur"}, options={"idempotency_key": "fix-and-retry"}
        )
    fixed = await standin.v1.payment_intents.create_async(
        params={"amount": 100, "currency": "eur"}, options={"idempotency_key": "fix-and-retry"}
    )
    assert fixed.status == "requires_payment_method"
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            await standin.v1.payment_intents.confirm_async(
                fixed.id,
                params={"payment_method": "pm_card_chargeDeclined"},
                options={"idempotency_key": "declined"},
            )
    failures = await standin.v1.events.list_async(params={"type": "charge.failed", "limit": 100})
    assert sum(event.data.object["payment_intent"] == fixed.id for event in failures.data) == 1
