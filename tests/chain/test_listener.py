"""The Settled-event listener against Anvil and PostgreSQL: confirmations, re-organisations, bad payments, outages."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import asyncpg
import pytest

from contracts import licences
from contracts import store as deal_store
from contracts.chain import service
from contracts.chain import store as chain_store
from contracts.chain.client import ChainClient, ChainUnavailable
from contracts.chain.model import ChainNode, Deployment, SightingStatus
from contracts.chain.split import deal_ref
from contracts.model import Deal, DealState
from tests.chain.conftest import MakeDeal
from tests.chain.helpers import funded_account, node, random_address
from tests.conftest import free_port


async def pay_on_chain(
    chain: ChainClient,
    deployment: Deployment,
    deal: Deal,
    *,
    amount: int | None = None,
    terms: bytes | None = None,
) -> str:
    """Approve and settle from a fresh funded buyer account; the Settled log's key, "tx_hash:log_index"."""
    amount = deal.price.amount if amount is None else amount
    buyer = await funded_account(chain, deployment.token_address, amount)
    token = chain.contract("Stablecoin", deployment.token_address)
    settlement = chain.contract("Settlement", deployment.settlement_address)
    await chain.send(buyer, token.functions.approve(settlement.address, amount))
    terms = terms if terms is not None else bytes.fromhex(licences.terms_hash(deal))
    payee = chain.web3.to_checksum_address(random_address())
    receipt = await chain.send(
        buyer, settlement.functions.settle(deal_ref(deal.id), terms, [payee], [10_000], amount)
    )
    settled = [entry for entry in receipt["logs"] if entry["address"] == settlement.address]
    return f"{receipt['transactionHash'].to_0x_hex()}:{settled[0]['logIndex']}"


async def status_of(pg_pool: asyncpg.Pool, key: str) -> tuple[SightingStatus, str | None]:
    tx_hash, log_index = key.split(":")
    async with pg_pool.acquire() as conn:
        found = await chain_store.sighting(conn, tx_hash, int(log_index))
    assert found is not None, "the listener never recorded the log"
    return found.status, found.reason


async def deal_state(pg_pool: asyncpg.Pool, deal: Deal) -> DealState:
    async with pg_pool.acquire() as conn:
        found = await deal_store.deal(conn, deal.id)
    assert found is not None
    return found.state


def now() -> datetime:
    return datetime.now(UTC)


async def test_a_wrong_amount_is_flagged_for_review_and_not_paid(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    key = await pay_on_chain(chain, deployments["EUR"], deal, amount=deal.price.amount - 1)
    await service.follow_settlements(pg_pool, chain, now=now())
    assert await status_of(pg_pool, key) == (
        SightingStatus.FLAGGED,
        "paid 249.99 EUR but the deal costs 250.00 EUR",
    )
    assert await deal_state(pg_pool, deal) is DealState.AWAITING_PAYMENT


async def test_a_wrong_terms_hash_is_flagged_for_review(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    key = await pay_on_chain(chain, deployments["EUR"], deal, terms=secrets.token_bytes(32))
    await service.follow_settlements(pg_pool, chain, now=now())
    assert await status_of(pg_pool, key) == (
        SightingStatus.FLAGGED,
        "the terms hash does not match the deal's terms",
    )


async def test_a_payment_in_the_wrong_currency_is_flagged(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    key = await pay_on_chain(chain, deployments["USD"], deal)
    await service.follow_settlements(pg_pool, chain, now=now())
    assert await status_of(pg_pool, key) == (
        SightingStatus.FLAGGED,
        "paid in USD but the deal is priced in EUR",
    )


async def test_a_settlement_for_an_unknown_deal_is_flagged(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    unknown = Deal(
        **{**{f: getattr(deal, f) for f in deal.__struct_fields__}, "id": __import__("uuid").uuid4()}
    )
    key = await pay_on_chain(chain, deployments["EUR"], unknown)
    await service.follow_settlements(pg_pool, chain, now=now())
    assert await status_of(pg_pool, key) == (SightingStatus.FLAGGED, "no deal has this id")


async def test_an_event_that_vanishes_before_its_confirmations_is_dropped_and_the_deal_stays_unpaid(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    patient = ChainClient(ChainNode(rpc_url=chain.node.rpc_url, embedded=True, confirmations=3))
    deal = await make_deal()
    await service.follow_settlements(pg_pool, patient, now=now())  # the cursor is up to date before the fork
    snapshot = await chain.rpc("evm_snapshot")
    key = await pay_on_chain(chain, deployments["EUR"], deal)

    await service.follow_settlements(pg_pool, patient, now=now())
    assert await status_of(pg_pool, key) == (SightingStatus.SEEN, None)
    assert await deal_state(pg_pool, deal) is DealState.AWAITING_PAYMENT

    assert await chain.rpc("evm_revert", snapshot) is True
    await service.follow_settlements(pg_pool, patient, now=now())
    assert await status_of(pg_pool, key) == (SightingStatus.DROPPED, None)
    assert await deal_state(pg_pool, deal) is DealState.AWAITING_PAYMENT
    await patient.close()


async def test_an_unreachable_node_changes_nothing(
    pg_pool: asyncpg.Pool, deployments: dict[str, Deployment]
) -> None:
    async with pg_pool.acquire() as conn:
        before = await chain_store.applied_to(conn, deployments["EUR"].chain_id)
    offline = ChainClient(node(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ChainUnavailable):
        await service.follow_settlements(pg_pool, offline, now=now())
    await offline.close()
    async with pg_pool.acquire() as conn:
        assert await chain_store.applied_to(conn, deployments["EUR"].chain_id) == before


async def test_a_re_organisation_deeper_than_the_confirmations_is_read_again_and_a_re_mined_payment_is_found(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    await service.follow_settlements(pg_pool, chain, now=now())
    snapshot = await chain.rpc("evm_snapshot")
    await chain.rpc("anvil_mine", "0x8")
    passed = await service.follow_settlements(pg_pool, chain, now=now())  # the cursor passes the 8 blocks
    assert await chain.rpc("evm_revert", snapshot) is True
    key = await pay_on_chain(chain, deployments["EUR"], deal)  # lands in block numbers the cursor passed
    assert passed is not None and await chain.head() <= passed.applied_to

    rewound = await service.follow_settlements(pg_pool, chain, now=now())
    assert rewound is not None and rewound.rewound and deal.id in rewound.paid
    assert await status_of(pg_pool, key) == (SightingStatus.PAID, None)
    assert await deal_state(pg_pool, deal) is DealState.LICENSED
