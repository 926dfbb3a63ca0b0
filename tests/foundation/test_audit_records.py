"""`audit verify` checks the business tables against their audited events, and admins can run it over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg

from contracts import service as contracts
from contracts.model import DealSource
from marketplace.audit import verify_audit
from rights.model import Mechanism
from rights.terms import Media, Money, Usage
from tests.auction.live import eur, new_track, open_round, sealed
from tests.conftest import SignIn


async def _problems_of(conn: asyncpg.Connection, table: str, record: UUID) -> list[str]:
    report = await verify_audit(conn, [])
    return [found.problem for found in report.breaks if found.chain == f"{table} row {record}"]


async def test_a_bid_amount_edited_in_the_bids_table_disagrees_with_its_audited_event(
    sign_in: SignIn, pg_pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000))
    response = await buyer.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(2_500)})
    assert response.status_code == 201, response.text
    bid_id = UUID(response.json()["bid_id"])
    assert await _problems_of(db, "bids", bid_id) == []

    await db.execute("UPDATE bids SET amount = 250 WHERE id = $1", bid_id)
    assert await _problems_of(db, "bids", bid_id) == ["amount differs from its audited event"]
    other = await sign_in("buyer")
    await db.execute(
        "UPDATE bids SET amount = 2500, bidder_id = $2 WHERE id = $1", bid_id, other.principal.organisation_id
    )
    assert await _problems_of(db, "bids", bid_id) == ["bidder differs from its audited event"]


async def test_a_deleted_bid_is_missed_by_its_audited_event(
    sign_in: SignIn, pg_pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000))
    response = await buyer.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(2_500)})
    bid_id = UUID(response.json()["bid_id"])
    await db.execute("DELETE FROM bids WHERE id = $1", bid_id)
    assert await _problems_of(db, "bids", bid_id) == [
        "audited bid has no row in bids (or is filed under another round)"
    ]


async def test_a_deal_price_edited_in_the_deals_table_disagrees_with_its_audited_event(
    sign_in: SignIn, pg_pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    track_id = await new_track(pg_pool, seller)
    deal = await contracts.create_deal(
        db, source=DealSource.ROUND, source_id=uuid4(), track_id=track_id, seller=seller.principal.organisation_id,
        buyer=buyer.principal.organisation_id, price=Money(40_000, "EUR"),
        usage=Usage(media=Media.ONLINE_ADS, territories=("WORLD",), term_months=12, start=datetime(2027, 1, 1, tzinfo=UTC).date()),
        mechanism=Mechanism.VICKREY, agreed_at=datetime.now(UTC), actor=None,
    )  # fmt: skip
    assert await _problems_of(db, "deals", deal.id) == []
    await db.execute("UPDATE deals SET price_amount = 4 WHERE id = $1", deal.id)
    assert await _problems_of(db, "deals", deal.id) == ["price differs from its audited event"]


async def test_admins_checkpoint_and_verify_over_http_and_others_may_not(sign_in: SignIn) -> None:
    admin, buyer = await sign_in("admin"), await sign_in("buyer")
    assert (await buyer.client.get("/api/admin/audit/verify")).status_code == 403
    assert (await buyer.client.post("/api/admin/audit/checkpoint")).status_code == 403

    taken = await admin.client.post("/api/admin/audit/checkpoint")
    assert taken.status_code == 201, taken.text
    head = taken.json()
    assert head["seq"] >= 1 and len(head["hash"]) == 64
    report = (await admin.client.get("/api/admin/audit/verify")).json()
    # Whether the whole session's trail is intact is for the scratch-database tests: other tests here
    # edit tables behind the audit log on purpose.
    assert report["anchors_checked"] >= 1 and report["checkpoints_checked"] >= head["seq"]
