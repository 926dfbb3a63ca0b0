"""Paying for a deal by card, refunding it, Stripe's webhooks, and connecting a payee's Stripe account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Controller, Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from contracts import service as deals
from contracts import stripe_service as service
from contracts.api import notifier
from contracts.model import Deal
from contracts.payments import StripeGateway
from contracts.stripe_service import AccountView, Onboarding, PaymentStart
from rights.identity import Principal

MAX_WEBHOOK_BYTES = 256 * 1024

BUYERS = {"roles": ["buyer"]}
RIGHTS_HOLDERS = {"roles": ["rights_holder"]}


class PaymentMethod(msgspec.Struct, frozen=True, kw_only=True):
    """A Stripe payment method id; the demo's test cards are `pm_card_visa` and `pm_card_chargeDeclined`."""

    payment_method: str

    def __post_init__(self) -> None:
        if not (0 < len(self.payment_method) <= 255 and self.payment_method.isascii()):
            raise ValueError("payment_method must be a Stripe payment method id such as pm_card_visa")


class WebhookReceipt(msgspec.Struct, frozen=True):
    received: service.Received


class Announcer:
    """After commit: the deal's update to its parties' channels, the payees' transfers to the queue."""

    def __init__(self, channels: ChannelsPlugin, jobs: ArqRedis) -> None:
        self._notifier = notifier(channels, jobs)
        self._jobs = jobs

    async def deal_changed(self, update: deals.DealUpdate) -> None:
        await self._notifier.updates([update])

    async def payouts_due(self, deal_id: UUID, at: datetime) -> None:
        await service.schedule_payouts(self._jobs, deal_id, at)


def _now() -> datetime:
    return datetime.now(UTC)


class DealPaymentController(Controller):
    path = "/api/deals"
    tags: Sequence[str] | None = ("payments",)

    @post("/{deal_id:uuid}/payment", status_code=HTTP_200_OK, opt=BUYERS)
    async def start_payment(
        self, pool: asyncpg.Pool, payments: StripeGateway, caller: Principal, deal_id: UUID
    ) -> PaymentStart:
        """The deal's PaymentIntent and client secret (the same one however often this is asked)."""
        return await service.start_payment(pool, payments, caller, deal_id, now=_now())

    @post("/{deal_id:uuid}/payment/confirm", status_code=HTTP_200_OK, opt=BUYERS, request_max_body_size=4096)
    async def confirm_payment(
        self, pool: asyncpg.Pool, payments: StripeGateway, channels: ChannelsPlugin, jobs: ArqRedis,
        caller: Principal, deal_id: UUID, data: PaymentMethod,
    ) -> Deal:  # fmt: skip
        """Pay now with a card; answers the deal once it is paid and licensed (402 when the card is declined)."""
        return await service.confirm_payment(
            pool,
            payments,
            Announcer(channels, jobs),
            caller,
            deal_id,
            payment_method=data.payment_method,
            now=_now(),
        )

    @post("/{deal_id:uuid}/refund", status_code=HTTP_200_OK, opt=RIGHTS_HOLDERS)
    async def refund(
        self, pool: asyncpg.Pool, payments: StripeGateway, channels: ChannelsPlugin, jobs: ArqRedis,
        caller: Principal, deal_id: UUID,
    ) -> Deal:  # fmt: skip
        """Refund the buyer in full: the licence is revoked and any transfers to payees are reversed."""
        return await service.refund_deal(
            pool, payments, Announcer(channels, jobs), caller, deal_id, now=_now()
        )


@post(
    "/api/stripe/webhook",
    status_code=HTTP_200_OK,
    tags=["payments"],
    include_in_schema=False,
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def stripe_webhook(
    request: Request[Any, Any, Any], pool: asyncpg.Pool, payments: StripeGateway, channels: ChannelsPlugin,
    jobs: ArqRedis,
) -> WebhookReceipt:  # fmt: skip
    """Stripe's events, verified on the raw body; a forged or unknown one is a 400 and changes nothing."""
    body = await request.body()  # bounded by MAX_WEBHOOK_BYTES before it is read
    received = await service.apply_webhook(
        pool, payments, Announcer(channels, jobs), body, request.headers.get("stripe-signature"), now=_now()
    )
    return WebhookReceipt(received=received)


class StripeAccountController(Controller):
    path = "/api/organisation/stripe-account"
    tags: Sequence[str] | None = ("payments",)

    @post("/", status_code=HTTP_200_OK, opt=RIGHTS_HOLDERS)
    async def connect(
        self, request: Request[Any, Any, Any], pool: asyncpg.Pool, payments: StripeGateway, caller: Principal
    ) -> Onboarding:
        """Connect (or finish connecting) a Stripe account: open `url` to onboard, then come back here."""
        back = str(request.url_for("stripe-account-status"))
        return await service.connect_account(
            pool, payments, caller, return_url=back, refresh_url=back, now=_now()
        )

    @get("/", name="stripe-account-status", opt=RIGHTS_HOLDERS)
    async def status(
        self,
        pool: asyncpg.Pool,
        payments: StripeGateway,
        channels: ChannelsPlugin,
        jobs: ArqRedis,
        caller: Principal,
    ) -> AccountView:
        """Whether Stripe can pay this organisation yet, and the shares of paid deals waiting for it."""
        return await service.account_status(pool, payments, Announcer(channels, jobs), caller, now=_now())


route_handlers: list[ControllerRouterHandler] = [
    DealPaymentController,
    StripeAccountController,
    stripe_webhook,
]
