"""The on-chain settlement API over HTTP: who may do what, and every bad value a sentence naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from contracts.chain import service
from contracts.chain.client import ChainClient
from contracts.chain.model import ChainNode, Deployment
from contracts.model import DealState
from tests.chain.conftest import MakeDeal
from tests.conftest import SignIn


async def test_a_rights_holder_registers_its_payout_address(sign_in: SignIn) -> None:
    holder = await sign_in("rights_holder")
    address = "0x" + "Ab" * 20
    reply = await holder.client.put("/api/organisations/me/chain-address", json={"address": address})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"address": address.lower()}


@pytest.mark.parametrize(
    "address", ["0x1234", "ab" * 21, "0x" + "zz" * 20, "0x" + "00" * 20, "0x" + "ab" * 21]
)
async def test_a_malformed_payout_address_is_refused_naming_the_field(sign_in: SignIn, address: str) -> None:
    holder = await sign_in("rights_holder")
    reply = await holder.client.put("/api/organisations/me/chain-address", json={"address": address})
    assert reply.status_code == 400
    assert "address" in reply.json()["detail"]


async def test_a_buyer_cannot_register_a_payout_address(sign_in: SignIn) -> None:
    buyer = await sign_in("buyer")
    reply = await buyer.client.put("/api/organisations/me/chain-address", json={"address": "0x" + "ab" * 20})
    assert reply.status_code == 403


async def test_only_the_buyer_sees_what_to_sign(sign_in: SignIn, make_deal: MakeDeal) -> None:
    buyer, stranger = await sign_in("buyer"), await sign_in("buyer")
    deal = await make_deal(buyer=buyer.principal.organisation_id)
    reply = await stranger.client.get(f"/api/deals/{deal.id}/chain-payment")
    assert reply.status_code == 404


async def test_a_deal_not_awaiting_payment_cannot_be_paid_on_chain(
    sign_in: SignIn, make_deal: MakeDeal
) -> None:
    buyer = await sign_in("buyer")
    deal = await make_deal(buyer=buyer.principal.organisation_id, state=DealState.CANCELLED)
    reply = await buyer.client.get(f"/api/deals/{deal.id}/chain-payment")
    assert reply.status_code == 409
    assert reply.json()["detail"] == "this deal is cancelled, not awaiting payment"


async def test_a_buyer_without_a_demo_wallet_is_told_to_use_its_own(
    sign_in: SignIn, make_deal: MakeDeal
) -> None:
    buyer = await sign_in("buyer")
    deal = await make_deal(buyer=buyer.principal.organisation_id)
    reply = await buyer.client.post(f"/api/deals/{deal.id}/chain-payment/demo-wallet")
    assert reply.status_code == 403
    assert reply.json()["detail"] == "your organisation has no demo wallet; pay with your own wallet"


async def test_the_demo_wallet_is_refused_on_a_real_chain(
    pg_pool: asyncpg.Pool, chain: ChainClient, make_deal: MakeDeal, sign_in: SignIn
) -> None:
    buyer = await sign_in("buyer")
    deal = await make_deal(buyer=buyer.principal.organisation_id)
    async with pg_pool.acquire() as conn:
        await service.give_demo_wallet(conn, buyer.principal.organisation_id, 9, now=datetime.now(UTC))
    real = ChainClient(ChainNode(rpc_url=chain.node.rpc_url, embedded=False, confirmations=12))
    with pytest.raises(service.DemoWalletRefused, match="only on the embedded Anvil node"):
        await service.pay_with_demo_wallet(pg_pool, real, buyer.principal, deal.id)
    await real.close()


async def test_admins_see_the_contracts_and_others_do_not(
    sign_in: SignIn, deployments: dict[str, Deployment]
) -> None:
    admin, buyer = await sign_in("admin"), await sign_in("buyer")
    reply = await admin.client.get("/api/admin/chain")
    assert reply.status_code == 200
    shown = {d["currency"]: d["settlement_address"] for d in reply.json()["deployments"]}
    assert shown == {currency: d.settlement_address for currency, d in deployments.items()}
    assert (await buyer.client.get("/api/admin/chain")).status_code == 403
    page = await admin.client.get("/admin/chain", headers={"Accept": "text/html"})
    assert page.status_code == 200 and deployments["EUR"].settlement_address in page.text
