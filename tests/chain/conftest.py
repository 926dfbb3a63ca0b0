"""Fixtures for the chain tests that touch PostgreSQL: the deployed contracts and deals awaiting payment."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest

from contracts import store as deal_store
from contracts.chain import service
from contracts.chain.client import ChainClient
from contracts.chain.model import Deployment
from contracts.model import Deal, DealSource, DealState, Payee
from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind
from rights import service as rights
from rights.identity import Role
from rights.terms import Media, Money, Usage
from tests.chain.helpers import node

MakeDeal = Callable[..., Awaitable[Deal]]


@pytest.fixture(scope="session")
async def chain(chain_rpc_url: str) -> AsyncIterator[ChainClient]:
    client = ChainClient(node(chain_rpc_url))
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def deployments(pg_pool: asyncpg.Pool, chain: ChainClient) -> dict[str, Deployment]:
    async with pg_pool.acquire() as conn:
        found = await service.ensure_deployed(conn, chain, now=datetime.now(UTC))
    return {d.currency: d for d in found}


async def organisation(conn: asyncpg.Connection, role: Role) -> UUID:
    suffix = secrets.token_hex(4)
    user = await accounts.create_user(
        conn, organisation_name=f"Chain {role.value} {suffix}", organisation_kind=OrganisationKind.OTHER,
        email=f"chain-{role.value}-{suffix}@example.test", display_name=f"Chain {suffix}", role=role,
        password="correct horse battery staple",
    )  # fmt: skip
    return user.organisation_id


@pytest.fixture
async def make_deal(pg_pool: asyncpg.Pool) -> MakeDeal:
    """`await make_deal(price=Money(…))`: a committed deal awaiting payment between two new organisations."""

    async def make(
        price: Money | None = None,
        payees: tuple[Payee, ...] | None = None,
        buyer: UUID | None = None,
        seller: UUID | None = None,
        state: DealState = DealState.AWAITING_PAYMENT,
    ) -> Deal:
        async with pg_pool.acquire() as conn:
            seller = seller or await organisation(conn, Role.RIGHTS_HOLDER)
            buyer = buyer or await organisation(conn, Role.BUYER)
            track = await rights.create_track(
                conn, owner_organisation_id=seller, title="Tide", artist="Chain Tests"
            )
            deal = Deal(
                id=uuid4(), source=DealSource.QUOTE, source_id=uuid4(), track_id=track.id, seller=seller, buyer=buyer,
                price=price or Money(25_000, "EUR"), usage=Usage(media=Media.ONLINE_ADS, territories=("DE",), term_months=12, start=date(2027, 1, 1)),
                state=state, created_at=datetime.now(UTC),
                payees=payees or (Payee(organisation_id=seller, party_id=uuid4(), party_name="Tide Records",
                                        side="master", territory="WORLD", share_bps=10_000),),
            )  # fmt: skip
            return await deal_store.insert_deal(conn, deal)

    return make
