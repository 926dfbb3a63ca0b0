"""Paying a deal on-chain end to end: what to sign, the demo wallet, the listener, the ledger, withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg

from contracts import service as deals
from contracts import store as deal_store
from contracts.chain import service
from contracts.chain import store as chain_store
from contracts.chain.client import ChainClient
from contracts.chain.model import Deployment, SightingStatus
from contracts.model import Deal, DealState, Payee
from rights.terms import Money
from tests.chain.conftest import MakeDeal
from tests.conftest import SignIn

BUYER_WALLET, SELLER_WALLET, CO_WRITER_WALLET = 5, 6, 7  # Anvil funds accounts 0–9 with ether


async def fetch_deal(pg_pool: asyncpg.Pool, deal: Deal) -> Deal:
    async with pg_pool.acquire() as conn:
        found = await deal_store.deal(conn, deal.id)
    assert found is not None
    return found


async def on_chain_balance(chain: ChainClient, deployment: Deployment, address: str) -> int:
    contract = chain.contract("Settlement", deployment.settlement_address)
    found: int = await chain.read(contract.functions.balanceOf(chain.web3.to_checksum_address(address)))
    return found


async def test_a_buyer_pays_with_the_demo_wallet_the_deal_is_licensed_and_chain_and_ledger_agree(
    pg_pool: asyncpg.Pool,
    chain: ChainClient,
    deployments: dict[str, Deployment],
    make_deal: MakeDeal,
    sign_in: SignIn,
) -> None:
    buyer, seller, co_writer = (
        await sign_in("buyer"),
        await sign_in("rights_holder"),
        await sign_in("rights_holder"),
    )
    async with pg_pool.acquire() as conn:
        await service.give_demo_wallet(
            conn, buyer.principal.organisation_id, BUYER_WALLET, now=datetime.now(UTC)
        )
        seller_address = await service.give_demo_wallet(
            conn, seller.principal.organisation_id, SELLER_WALLET, now=datetime.now(UTC)
        )
        co_writer_address = await service.give_demo_wallet(
            conn, co_writer.principal.organisation_id, CO_WRITER_WALLET, now=datetime.now(UTC)
        )
    await service.fund_demo_wallet(
        chain, list(deployments.values()), (await service.anvil_address(BUYER_WALLET))
    )
    deal = await make_deal(
        price=Money(40_000, "EUR"),
        buyer=buyer.principal.organisation_id,
        seller=seller.principal.organisation_id,
        payees=(
            Payee(organisation_id=seller.principal.organisation_id, party_id=uuid4(), party_name="Master Owner",
                  side="master", territory="WORLD", share_bps=7_500),
            Payee(organisation_id=co_writer.principal.organisation_id, party_id=uuid4(), party_name="Co-writer",
                  side="publishing", territory="WORLD", share_bps=2_500),
        ),
    )  # fmt: skip

    shown = await buyer.client.get(f"/api/deals/{deal.id}/chain-payment")
    assert shown.status_code == 200, shown.text
    payment = shown.json()
    assert payment["amount"] == 40_000 and payment["currency"] == "EUR"
    assert payment["payees"][0] == deployments["EUR"].platform_address
    assert set(payment["payees"][1:]) == {seller_address, co_writer_address}
    assert sum(payment["shares_bps"]) == 10_000
    assert [call["to"] for call in payment["calls"]] == [
        deployments["EUR"].token_address,
        deployments["EUR"].settlement_address,
    ]

    paid = await buyer.client.post(f"/api/deals/{deal.id}/chain-payment/demo-wallet")
    assert paid.status_code == 200, paid.text
    report = await service.follow_settlements(pg_pool, chain, now=datetime.now(UTC))
    assert report is not None and deal.id in report.paid
    assert (await fetch_deal(pg_pool, deal)).state is DealState.LICENSED
    told = [update for update in report.updates if update.deal_id == deal.id]
    assert [(update.kind, update.deal.state) for update in told] == [("licence_issued", DealState.LICENSED)]

    async with pg_pool.acquire() as conn:
        ledger = {line.organisation_id: line.amount for line in await deals.payable_payees(conn, deal.id)}
    assert ledger[seller.principal.organisation_id] == await on_chain_balance(
        chain, deployments["EUR"], seller_address
    )
    assert ledger[co_writer.principal.organisation_id] == await on_chain_balance(
        chain, deployments["EUR"], co_writer_address
    )

    withdrawn = await seller.client.post("/api/organisations/me/chain-payouts/demo-withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert [b["withdrawable"] for b in withdrawn.json()] == [ledger[seller.principal.organisation_id]]
    token = chain.contract("Stablecoin", deployments["EUR"].token_address)
    assert (
        await chain.read(token.functions.balanceOf(chain.web3.to_checksum_address(seller_address)))
        == ledger[seller.principal.organisation_id]
    )
    assert await on_chain_balance(chain, deployments["EUR"], seller_address) == 0


async def test_the_listener_pays_a_deal_once_across_a_restart_from_an_older_block(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    from tests.chain.test_listener import pay_on_chain

    deal = await make_deal()
    key = await pay_on_chain(chain, deployments["EUR"], deal)
    first = await service.follow_settlements(pg_pool, chain, now=datetime.now(UTC))
    assert first is not None and deal.id in first.paid

    # A new process whose cursor is older than the payment (as if it had stopped before the block).
    tx_hash, log_index = key.split(":")
    async with pg_pool.acquire() as conn:
        sighting = await chain_store.sighting(conn, tx_hash, int(log_index))
        assert sighting is not None and sighting.status is SightingStatus.PAID
        await chain_store.move_cursor(
            conn, deployments["EUR"].chain_id, sighting.log.block_number - 1, None, datetime.now(UTC)
        )
    restarted = ChainClient(chain.node)
    try:
        again = await service.follow_settlements(pg_pool, restarted, now=datetime.now(UTC))
    finally:
        await restarted.close()
    assert again is not None and again.paid == []
    async with pg_pool.acquire() as conn:
        payments = await conn.fetchval("SELECT count(*) FROM deal_payments WHERE deal_id = $1", deal.id)
        events = await conn.fetchval(
            "SELECT count(*) FROM deal_events WHERE deal_id = $1 AND kind = 'payment_received'", deal.id
        )
    assert (payments, events) == (1, 1)
    assert (await fetch_deal(pg_pool, deal)).state is DealState.LICENSED


async def test_the_listener_job_tells_the_deal_channel_once_the_payment_is_committed(
    pg_pool: asyncpg.Pool,
    chain: ChainClient,
    deployments: dict[str, Deployment],
    make_deal: MakeDeal,
    redis_url: str,
) -> None:
    import msgspec
    from arq import create_pool
    from arq.connections import RedisSettings

    from contracts.chain.jobs import follow_settlements
    from tests.chain.test_listener import pay_on_chain

    deal = await make_deal()
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    subscription = redis.pubsub()
    await subscription.subscribe(deals.deal_channel(deal.id))
    try:
        await pay_on_chain(chain, deployments["EUR"], deal)
        result = await follow_settlements({"pool": pg_pool, "chain": chain, "redis": redis})
        assert str(deal.id) in result["paid"]
        message = None
        for _ in range(50):
            message = await subscription.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                break
        assert message is not None, "nothing was published on the deal's channel"
        update = msgspec.json.decode(message["data"], type=deals.DealUpdate)
        assert (update.deal_id, update.deal.state) == (deal.id, DealState.LICENSED)
    finally:
        await subscription.aclose()
        await redis.aclose()
