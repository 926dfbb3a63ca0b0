"""On-chain settlement endpoints: what to sign for a deal, the demo wallet, payout addresses and balances, the admin's view.

Handlers declare `chain`: the node client, provided by the app factory (503 when no node is available).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Controller, get, post, put
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from contracts.chain import service
from contracts.chain.client import ChainClient
from contracts.chain.model import ChainOverview, ChainPayment, DemoPaymentReceipt, PayoutBalance, Sighting
from rights.identity import Principal


class PayoutAddress(msgspec.Struct, frozen=True):
    address: Annotated[str, msgspec.Meta(max_length=42)]


def _now() -> datetime:
    return datetime.now(UTC)


class ChainController(Controller):
    path = "/api"
    tags: Sequence[str] | None = ("on-chain settlement",)

    @get("/deals/{deal_id:uuid}/chain-payment")
    async def chain_payment(
        self,
        conn: asyncpg.Connection,
        caller: Principal,
        chain: ChainClient,
        deal_id: UUID,
    ) -> ChainPayment:
        """What the buyer's wallet signs: chain id, contracts, amount, and the call data for approve then settle."""
        return await service.payment_for(conn, chain, caller, deal_id)

    @post(
        "/deals/{deal_id:uuid}/chain-payment/demo-wallet",
        status_code=HTTP_200_OK,
        opt={"roles": ["buyer", "admin"]},
    )
    async def pay_with_demo_wallet(
        self, pool: asyncpg.Pool, caller: Principal, chain: ChainClient, jobs: ArqRedis,
        deal_id: UUID,
    ) -> DemoPaymentReceipt:  # fmt: skip
        """DEMO ONLY: the server signs with the buyer's public Anvil development account; refused on any real chain.

        The deal becomes paid when the listener sees the Settled event confirmed.
        """
        receipt = await service.pay_with_demo_wallet(pool, chain, caller, deal_id)
        await jobs.enqueue_job("follow_settlements")  # look now rather than at the next tick
        return receipt

    @get("/deals/{deal_id:uuid}/chain-settlements")
    async def chain_settlements(
        self, conn: asyncpg.Connection, caller: Principal, deal_id: UUID
    ) -> list[Sighting]:
        """The Settled events seen for the deal: awaiting confirmations, paid, flagged for review or dropped."""
        return await service.deal_sightings(conn, caller, deal_id)

    @put("/organisations/me/chain-address", opt={"roles": ["rights_holder", "admin"]})
    async def set_payout_address(
        self, conn: asyncpg.Connection, caller: Principal, data: PayoutAddress
    ) -> PayoutAddress:
        """Where the Settlement contract credits your organisation's share of deals paid on-chain."""
        return PayoutAddress(await service.set_payout_address(conn, caller, data.address, now=_now()))

    @get("/organisations/me/chain-payouts")
    async def payouts(self, pool: asyncpg.Pool, caller: Principal, chain: ChainClient) -> list[PayoutBalance]:
        """What your payout address can withdraw from each Settlement contract."""
        return await service.payout_balances(pool, chain, caller)

    @post(
        "/organisations/me/chain-payouts/demo-withdraw",
        status_code=HTTP_200_OK,
        opt={"roles": ["rights_holder", "admin"]},
    )
    async def demo_withdraw(
        self, pool: asyncpg.Pool, caller: Principal, chain: ChainClient
    ) -> list[PayoutBalance]:
        """DEMO ONLY: withdraw with your organisation's public Anvil development account; the amounts withdrawn."""
        return await service.withdraw_with_demo_wallet(pool, chain, caller)

    @get("/admin/chain", opt={"roles": ["admin"]})
    async def overview(self, pool: asyncpg.Pool, chain: ChainClient) -> ChainOverview:
        """The contract addresses, the listener's progress, flagged payments and the last anchored audit head."""
        return await service.overview(pool, chain)


route_handlers: list[ControllerRouterHandler] = [ChainController]
