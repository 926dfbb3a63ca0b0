"""The rights demo seeder: idempotent, and fills in tracks that appear after its first run."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from uuid import UUID

import asyncpg

from rights import demo, service
from rights.clearance import Outcome
from rights.store import open_store
from rights.terms import Media, Usage


async def test_seed_is_idempotent_and_covers_tracks_added_later(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    org: UUID = await db.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ('Demo seed test', 'label') RETURNING id"
    )
    await demo.seed(db, {"label": org}, tmp_path)
    tracks = [
        await service.create_track(db, owner_organisation_id=org, title=f"Song {i}", artist="Demo")
        for i in range(3)
    ]
    await demo.seed(db, {"label": org}, tmp_path)
    await demo.seed(db, {"label": org}, tmp_path)
    assert await db.fetchval("SELECT count(*) FROM rights_parties WHERE ipi LIKE '009000000%'") == 7
    online_de = Usage(media=Media.ONLINE_ADS, territories=("DE",), term_months=12, start=date(2026, 12, 1))
    outcomes = [(await service.clearance(db, t.id, online_de)).outcome for t in tracks]
    assert outcomes == [Outcome.CLEARABLE_NOW, Outcome.BLOCKED, Outcome.CLEARABLE_NOW]
    complete = await service.clearance(db, tracks[0].id, online_de)
    publishing = [s for s in complete.ownership if s.right == "publishing"]
    assert publishing[0].holdings[0].controller_name == "Spree Edition Berlin"
    online_us = Usage(media=Media.ONLINE_ADS, territories=("US",), term_months=12, start=date(2026, 12, 1))
    blocked = await service.clearance(db, tracks[2].id, online_us)
    assert blocked.reasons == ("an exclusive online_ads licence covers US until 2027-06-30",)
    tv = await service.clearance(db, tracks[0].id, Usage(media=Media.TV_ADS, territories=("FR",), term_months=12,
                                                         start=date(2026, 12, 1)))  # fmt: skip
    assert tv.reasons == ("Continental Songs has not set a licensing policy",)
    assert await service.clearable_track_ids(db, online_de, among=[t.id for t in tracks]) == {
        tracks[0].id,
        tracks[2].id,
    }


async def test_demo_recordings_and_works_carry_well_formed_isrc_and_iswc(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Licences, agreements and earnings statements of demo deals name the track by its codes."""
    org: UUID = await db.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ('Demo codes test', 'label') RETURNING id"
    )
    tracks = [
        await service.create_track(db, owner_organisation_id=org, title=f"Coded {i}", artist="Demo")
        for i in range(5)
    ]
    await demo.seed(db, {"label": org}, tmp_path)
    store = open_store(db)
    for track in tracks:
        recording = await store.recording_for_track(track.id)
        assert recording is not None and recording.isrc is not None
        assert re.fullmatch(r"[A-Z]{2}[A-Z0-9]{3}\d{7}", recording.isrc)
        iswc = await db.fetchval("SELECT iswc FROM rights_works WHERE id = $1", recording.work_id)
        found = re.fullmatch(r"T-(\d{3})\.(\d{3})\.(\d{3})-(\d)", iswc or "")
        assert found is not None
        digits = "".join(found.groups()[:3])
        weighted = 1 + sum(weight * int(d) for weight, d in enumerate(digits, start=1))
        assert (weighted + int(found.group(4))) % 10 == 0


def test_the_demo_iswc_check_digit_matches_a_published_iswc() -> None:
    assert demo.demo_iswc(UUID(int=34_524_680 << 40)) == "T-034.524.680-1"
