"""The demo's wallets: buyers get funded Anvil accounts, rights holders are paid at theirs; seeding twice changes nothing."""

from __future__ import annotations

import asyncpg

from contracts.chain import service
from contracts.chain import store as chain_store
from contracts.chain.client import ChainClient, anvil_account
from contracts.chain.model import Deployment
from marketplace.chain import DEMO_WALLETS, seed_demo_wallets
from rights.identity import Role
from tests.chain.conftest import organisation


async def test_demo_buyers_get_funded_wallets_and_rights_holders_payout_addresses(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment]
) -> None:
    async with pg_pool.acquire() as conn:
        organisations = {
            "agency": await organisation(conn, Role.BUYER),
            "label": await organisation(conn, Role.RIGHTS_HOLDER),
        }
        for _ in range(2):
            await seed_demo_wallets(conn, chain, organisations)
        addresses = await chain_store.payout_addresses(conn, list(organisations.values()))
        wallets = {key: await chain_store.demo_wallet_index(conn, org) for key, org in organisations.items()}
    assert wallets == {"agency": DEMO_WALLETS["agency"], "label": DEMO_WALLETS["label"]}
    assert addresses[organisations["label"]] == anvil_account(DEMO_WALLETS["label"]).address.lower()
    buyer = anvil_account(DEMO_WALLETS["agency"]).address
    for deployment in deployments.values():
        token = chain.contract("Stablecoin", deployment.token_address)
        assert await chain.read(token.functions.balanceOf(buyer)) == service.DEMO_FUNDING_UNITS
