"""The demo seeder opens a few rounds on the label's clearable tracks, once, and nothing without them."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from auction import demo
from rights import demo as rights_demo
from rights import service as rights
from tests.conftest import SignIn


async def test_demo_rounds_are_opened_once_on_the_labels_tracks(
    sign_in: SignIn, db: asyncpg.Connection, tmp_path: Path
) -> None:
    owner = (await sign_in("rights_holder")).principal
    label = owner.organisation_id
    organisations = {"label": label}
    await demo.seed(db, organisations, tmp_path)
    assert await _rounds(db, label) == []
    await rights.create_track(db, owner_organisation_id=label, title="No Rights Yet", artist="Demo Band")
    for title in ("First Light", "Second Wind", "Third Coast", "Fourth Wall"):
        track = await rights.create_track(db, owner_organisation_id=label, title=title, artist="Demo Band")
        await rights_demo.sole_owner(db, owner, track.id)
    await demo.seed(db, organisations, tmp_path)
    await demo.seed(db, organisations, tmp_path)
    assert await _rounds(db, label) == ["clock", "negotiation", "vickrey"]


async def _rounds(db: asyncpg.Connection, seller: object) -> list[str]:
    rows = await db.fetch("SELECT mechanism FROM rounds WHERE seller_id = $1 ORDER BY mechanism", seller)
    return [row["mechanism"] for row in rows]
