"""On-chain pages: pay a deal with a wallet, see and withdraw on-chain payouts, and the admin's chain overview."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec
from litestar import get, post
from litestar.response import Redirect, Template

from contracts.chain import service
from contracts.chain.client import ChainClient
from rights.identity import Principal


@get("/deals/{deal_id:uuid}/pay-on-chain", include_in_schema=False)
async def pay_on_chain_page(
    conn: asyncpg.Connection, caller: Principal, chain: ChainClient, deal_id: UUID
) -> Template:
    """What to sign for the deal, with a browser wallet button and, in the demo, the demo wallet."""
    sightings = await service.deal_sightings(conn, caller, deal_id)
    try:
        payment = await service.payment_for(conn, chain, caller, deal_id)
        refused = None
    except service.ChainPaymentRefused as why:
        payment, refused = None, str(why)
    return Template(
        "contracts/chain_payment.html",
        context={
            "deal_id": deal_id,
            "payment": payment,
            "payment_json": msgspec.json.encode(payment).decode() if payment else "null",
            "refused": refused,
            "sightings": sightings,
            "confirmations": chain.node.confirmations,
        },
    )


@get("/payouts/on-chain", include_in_schema=False, opt={"roles": ["rights_holder", "admin"]})
async def payouts_page(pool: asyncpg.Pool, caller: Principal, chain: ChainClient) -> Template:
    balances = await service.payout_balances(pool, chain, caller)
    async with pool.acquire() as conn:
        has_demo_wallet = await service.has_demo_wallet(conn, chain, caller)
    return Template("contracts/chain_payouts.html", context={"balances": balances, "demo": has_demo_wallet})


@post("/payouts/on-chain/demo-withdraw", include_in_schema=False, opt={"roles": ["rights_holder", "admin"]})
async def demo_withdraw_page(pool: asyncpg.Pool, caller: Principal, chain: ChainClient) -> Redirect:
    """Demo only: withdraw with the organisation's public Anvil account, then show the balances again."""
    await service.withdraw_with_demo_wallet(pool, chain, caller)
    return Redirect("/payouts/on-chain", status_code=303)


@get("/admin/chain", include_in_schema=False, opt={"roles": ["admin"]})
async def admin_page(pool: asyncpg.Pool, chain: ChainClient) -> Template:
    return Template("contracts/chain_admin.html", context={"overview": await service.overview(pool, chain)})


page_handlers = [pay_on_chain_page, payouts_page, demo_withdraw_page, admin_page]
