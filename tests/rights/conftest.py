"""Rights-store fixtures: the contract suite runs once per backend that is available here."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest

from rights.store import RightsStore
from rights.store.postgres import PostgresRightsStore

BACKENDS = ["postgres", "arango"]


@pytest.fixture
async def organisation(db: asyncpg.Connection) -> UUID:
    org: UUID = await db.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ('Rights Test ' || gen_random_uuid(), 'label') RETURNING id"
    )
    return org


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, db: asyncpg.Connection) -> AsyncIterator[RightsStore]:
    if request.param == "postgres":
        yield PostgresRightsStore(db)
        return
    url = os.environ.get("ARANGO_URL")
    if not url:
        pytest.skip("ArangoDB backend not tested: ARANGO_URL is not set")
    from rights.store.arango import ArangoRightsStore

    arango = ArangoRightsStore.connect(url, database=f"rights_test_{os.getpid()}")
    arango.reset()
    yield arango
    arango.reset()
