"""The Stripe gateway: every Stripe call the marketplace makes, each with the caller's own idempotency key.

It speaks to Stripe or to the local stand-in alike (the composition root chooses the base address)
through the `stripe` library's async client, so no call blocks the event loop. Callers never hold a
database connection across these calls. Failures come back as two errors a person can act on:
`CardDeclined` (402) and `PaymentProviderUnavailable` (503: nothing changed, retry safely).
"""

from __future__ import annotations

from typing import Any

import msgspec
import stripe

from rights.terms import Money

WEBHOOK_TOLERANCE_SECONDS = 300


class CardDeclined(Exception):
    """The card was refused; the deal still awaits payment and another card may be tried."""

    status_code = 402


class PaymentProviderUnavailable(Exception):
    """Stripe could not be reached or failed on its side; nothing changed here and a retry is safe."""

    status_code = 503


class PaymentRefused(ValueError):
    """Stripe refused the request itself (a 4xx other than a declined card); the message says why."""


class Intent(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a PaymentIntent the marketplace acts on."""

    id: str
    client_secret: str | None
    status: str
    amount: Money
    charge_id: str | None
    deal_id: str | None
    failure: str | None


class RefundedCharge(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    payment_intent_id: str | None
    refunded: bool
    refund_id: str | None  # the latest refund of the charge


class ConnectedAccount(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool

    @property
    def can_receive_transfers(self) -> bool:
        return self.payouts_enabled and self.details_submitted


def _intent(found: Any) -> Intent:
    error = found.last_payment_error
    latest = found.latest_charge
    return Intent(
        id=found.id,
        client_secret=found.client_secret,
        status=found.status,
        amount=Money(int(found.amount), str(found.currency).upper()),
        charge_id=latest if isinstance(latest, str) or latest is None else latest.id,
        deal_id=found.metadata.to_dict().get("deal_id") if found.metadata else None,
        failure=None if error is None else (error.message or error.code),
    )


def _account(found: Any) -> ConnectedAccount:
    return ConnectedAccount(
        id=found.id,
        charges_enabled=bool(found.charges_enabled),
        payouts_enabled=bool(found.payouts_enabled),
        details_submitted=bool(found.details_submitted),
    )


class StripeGateway:
    """One StripeClient, the webhook signing secret, and the hold before transfers."""

    def __init__(
        self, client: stripe.StripeClient, http: stripe.HTTPXClient, *, webhook_secret: str, hold_days: int
    ) -> None:
        self._client = client
        self._http = http
        self.webhook_secret = webhook_secret
        self.hold_days = hold_days

    @classmethod
    def connect(
        cls,
        api_key: str,
        *,
        api_base: str | None,
        webhook_secret: str,
        hold_days: int,
        max_network_retries: int = 2,
    ) -> StripeGateway:
        """A gateway on real Stripe (no `api_base`) or on a stand-in at `api_base`."""
        http = stripe.HTTPXClient(timeout=20)
        client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=http,
            max_network_retries=max_network_retries,
        )
        return cls(client, http, webhook_secret=webhook_secret, hold_days=hold_days)

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def _call(self, request: Any) -> Any:
        try:
            return await request
        except stripe.CardError as error:
            raise CardDeclined(
                f"The card was declined ({error.code or 'card_declined'}); nothing was charged. Try another card."
            ) from error
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise PaymentProviderUnavailable(
                "The payment provider could not be reached; nothing was charged. Please try again in a moment."
            ) from error
        except stripe.StripeError as error:
            status = error.http_status or 500
            if status >= 500 or status in {401, 403}:
                raise PaymentProviderUnavailable(
                    "The payment provider is not answering properly; nothing was charged. Please try again later."
                ) from error
            raise PaymentRefused(
                f"The payment provider refused the request: {error.user_message or error}"
            ) from error

    # ---- payments ------------------------------------------------------------------------------
    async def create_payment_intent(
        self, *, amount: Money, deal_id: str, description: str, idempotency_key: str
    ) -> Intent:
        found = await self._call(
            self._client.v1.payment_intents.create_async(
                params={
                    "amount": amount.amount,
                    "currency": amount.currency.lower(),
                    "metadata": {"deal_id": deal_id},
                    "transfer_group": deal_id,
                    "description": description,
                    # Confirmed server-side with a card: no redirecting payment methods, so no return_url.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return _intent(found)

    async def retrieve_payment_intent(self, intent_id: str) -> Intent:
        return _intent(await self._call(self._client.v1.payment_intents.retrieve_async(intent_id)))

    async def confirm_payment_intent(self, intent_id: str, *, payment_method: str) -> Intent:
        found = await self._call(
            self._client.v1.payment_intents.confirm_async(
                intent_id, params={"payment_method": payment_method}
            )
        )
        return _intent(found)

    async def refund(self, intent_id: str, *, idempotency_key: str) -> str:
        found = await self._call(
            self._client.v1.refunds.create_async(
                params={"payment_intent": intent_id}, options={"idempotency_key": idempotency_key}
            )
        )
        return str(found.id)

    async def retrieve_charge(self, charge_id: str) -> RefundedCharge:
        found = await self._call(
            self._client.v1.charges.retrieve_async(charge_id, params={"expand": ["refunds"]})
        )
        intent = found.payment_intent
        refunds = getattr(found, "refunds", None)
        return RefundedCharge(
            id=found.id,
            payment_intent_id=intent if isinstance(intent, str) or intent is None else intent.id,
            refunded=bool(found.refunded),
            refund_id=refunds.data[0].id if refunds and refunds.data else None,
        )

    # ---- Connect -------------------------------------------------------------------------------
    async def transfer(
        self,
        *,
        amount: Money,
        destination: str,
        source_charge: str,
        transfer_group: str,
        idempotency_key: str,
    ) -> str:
        found = await self._call(
            self._client.v1.transfers.create_async(
                params={
                    "amount": amount.amount,
                    "currency": amount.currency.lower(),
                    "destination": destination,
                    "source_transaction": source_charge,
                    "transfer_group": transfer_group,
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(found.id)

    async def reverse_transfer(self, transfer_id: str, *, amount: Money, idempotency_key: str) -> str:
        found = await self._call(
            self._client.v1.transfers.reversals.create_async(
                transfer_id, params={"amount": amount.amount}, options={"idempotency_key": idempotency_key}
            )
        )
        return str(found.id)

    async def create_account(self, *, organisation_id: str, idempotency_key: str) -> ConnectedAccount:
        found = await self._call(
            self._client.v1.accounts.create_async(
                params={
                    "type": "express",
                    "metadata": {"organisation_id": organisation_id},
                    "capabilities": {"transfers": {"requested": True}},
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return _account(found)

    async def retrieve_account(self, account_id: str) -> ConnectedAccount:
        return _account(await self._call(self._client.v1.accounts.retrieve_async(account_id)))

    async def onboarding_link(self, account_id: str, *, return_url: str, refresh_url: str) -> str:
        found = await self._call(
            self._client.v1.account_links.create_async(
                params={
                    "account": account_id,
                    "type": "account_onboarding",
                    "return_url": return_url,
                    "refresh_url": refresh_url,
                }
            )
        )
        return str(found.url)

    # ---- webhooks ------------------------------------------------------------------------------
    def verify_webhook(self, payload: bytes, signature: str | None) -> stripe.Event:
        """The event, if `signature` signs exactly these bytes with our secret within 300 s; else ValueError."""
        try:
            event: stripe.Event = stripe.Webhook.construct_event(
                payload, signature or "", self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as error:
            raise WebhookRefused("the Stripe-Signature header does not sign this body") from error
        except ValueError as error:
            raise WebhookRefused("the webhook body is not a Stripe event") from error
        return event


class WebhookRefused(ValueError):
    """A webhook that is not from Stripe (or not readable): answered 400, nothing changes."""
