"""Licence fixtures: a track with audio and an ISRC, a paid deal on it and the licence issued on that."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest

from contracts import licences, store
from contracts.model import Deal, DealSource, DealState, Licence, Payee
from discovery import service as discovery
from discovery import synth
from marketplace.config import Settings
from rights import service as rights
from rights.model import Recording, Work
from rights.store import open_store
from rights.terms import Media, Money, Usage
from tests.conftest import SignedIn, SignIn


class Licensed(msgspec.Struct, frozen=True):
    seller: SignedIn
    buyer: SignedIn
    deal: Deal
    licence: Licence
    original: discovery.OriginalAudio
    isrc: str


MakeLicensed = Callable[..., Awaitable[Licensed]]


@pytest.fixture
async def make_licensed(sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings) -> MakeLicensed:
    """`await make_licensed()`: a fresh seller and buyer, and a licensed deal between them (committed)."""

    async def make(*, state: DealState = DealState.LICENSED) -> Licensed:
        seller = await sign_in("rights_holder", organisation=f"Zoë Records {uuid4().hex[:6]}")
        buyer = await sign_in("buyer")
        async with pg_pool.acquire() as conn:
            track = await rights.create_track(
                conn,
                owner_organisation_id=seller.principal.organisation_id,
                title="Night Drive",
                artist="Zoë",
            )
            serial = secrets.randbelow(10**9)
            isrc, iswc = f"GBAYE{serial % 10**7:07d}", f"T-{serial:09d}-1"
            work = Work(id=uuid4(), title="Night Drive", iswc=iswc)
            await open_store(conn).add_work(work)
            await open_store(conn).add_recording(
                Recording(id=uuid4(), title="Night Drive", isrc=isrc, work_id=work.id, track_id=track.id)
            )
            data = synth.to_wav(synth.render(synth.demo_track(2), seconds=3))
            checked = discovery.check_audio(data)
            async with conn.transaction():
                await discovery.store_audio(conn, settings.data_dir, track.id, data, checked, None)
            deal = Deal(
                id=uuid4(), source=DealSource.QUOTE, source_id=uuid4(), track_id=track.id,
                seller=seller.principal.organisation_id, buyer=buyer.principal.organisation_id,
                price=Money(123_450, "EUR"),
                usage=Usage(media=Media.ONLINE_ADS, territories=("DE",), term_months=12, start=date(2027, 1, 1)),
                state=DealState.PAID, created_at=datetime.now(UTC), payment_reference="pi_test_1",
                payees=(Payee(organisation_id=seller.principal.organisation_id, party_id=uuid4(),
                              party_name="Zoë Records", side="master", territory="WORLD", share_bps=10_000),),
            )  # fmt: skip
            async with conn.transaction():
                await store.insert_deal(conn, deal)
                licence = await licences.issue_licence(conn, deal, now=datetime.now(UTC))
                await conn.execute("UPDATE deals SET state = $2 WHERE id = $1", deal.id, state.value)
            original = await discovery.original_audio(conn, settings.data_dir, track.id)
        assert original is not None
        return Licensed(seller, buyer, msgspec.structs.replace(deal, state=state), licence, original, isrc)

    return make


async def audit_kinds(pg_pool: asyncpg.Pool, deal_id: UUID) -> list[tuple[str, dict[str, object]]]:
    async with pg_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT kind, payload FROM audit_events WHERE stream = 'deal' AND stream_id = $1 ORDER BY seq",
            str(deal_id),
        )
    return [(row["kind"], row["payload"]) for row in rows]
