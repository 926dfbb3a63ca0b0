"""The fingerprint index in PostgreSQL: saved, looked up, replaced, and converted by its migration both ways."""

from __future__ import annotations

import random
import secrets
from uuid import UUID

import asyncpg

from discovery import store
from discovery.model import FingerprintHit, Landmark
from marketplace.migrations import downgrade_async, upgrade_async


async def _track(conn: asyncpg.Connection) -> UUID:
    organisation = await conn.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ($1, 'label') RETURNING id",
        f"FP {secrets.token_hex(4)}",
    )
    track_id: UUID = await conn.fetchval(
        "INSERT INTO tracks (owner_organisation_id, title, artist) VALUES ($1, 'T', 'A') RETURNING id",
        organisation,
    )
    return track_id


def _landmarks(seed: int, n: int) -> list[Landmark]:
    rng = random.Random(seed)
    return [Landmark(hash=rng.randrange(2**26), offset=rng.randrange(200_000)) for _ in range(n)]


async def test_saved_landmarks_are_found_by_hash_and_a_new_analysis_replaces_them(
    db: asyncpg.Connection,
) -> None:
    first, second = await _track(db), await _track(db)
    landmarks = _landmarks(1, 3_000)
    await store.save_fingerprints(db, first, landmarks)
    await store.save_fingerprints(db, second, _landmarks(2, 3_000))
    wanted = [lm.hash for lm in landmarks[:200]]
    hits = await store.fingerprint_hits(db, wanted)
    assert {FingerprintHit(lm.hash, first, lm.offset) for lm in landmarks[:200]} <= set(hits)
    assert {h.track_id for h in hits} <= {first, second}

    replacement = _landmarks(3, 500)
    await store.save_fingerprints(db, first, replacement)
    assert not {h for h in await store.fingerprint_hits(db, wanted) if h.track_id == first} - {
        FingerprintHit(lm.hash, first, lm.offset) for lm in replacement
    }
    found = await store.fingerprint_hits(db, [lm.hash for lm in replacement])
    assert {FingerprintHit(lm.hash, first, lm.offset) for lm in replacement} <= set(found)


async def test_a_deleted_track_is_never_identified_again(db: asyncpg.Connection) -> None:
    track = await _track(db)
    landmarks = _landmarks(4, 1_000)
    await store.save_fingerprints(db, track, landmarks)
    await db.execute("DELETE FROM tracks WHERE id = $1", track)
    hits = await store.fingerprint_hits(db, [lm.hash for lm in landmarks])
    assert track not in {h.track_id for h in hits}


async def test_the_migration_converts_rows_into_runs_and_back(scratch_database: str) -> None:
    await upgrade_async(scratch_database, "0003_discovery")
    conn = await asyncpg.connect(scratch_database)
    try:
        tracks = [await _track(conn) for _ in range(3)]
        rows = sorted(
            {(lm.hash, track, lm.offset) for n, track in enumerate(tracks) for lm in _landmarks(n, 700)}
            | {(77, tracks[0], k) for k in range(250)}  # one hash in more landmarks than a run holds
            | {(2**26 - 1, tracks[1], 2**22 - 1)}  # the largest hash and offset an entry holds
        )
        await conn.copy_records_to_table(
            "discovery_fingerprints", records=rows, columns=["hash", "track_id", "offset"]
        )
        await upgrade_async(scratch_database, "0080_discovery_fingerprint_runs")
        hits = await store.fingerprint_hits(conn, sorted({h for h, _, _ in rows}))
        assert sorted((h.hash, h.track_id, h.offset) for h in hits) == rows
        async with conn.transaction():  # a new analysis after the conversion
            await store.save_fingerprints(conn, tracks[2], _landmarks(9, 50))

        await downgrade_async(scratch_database, "0003_discovery")
        back = await conn.fetch('SELECT hash, track_id, "offset" FROM discovery_fingerprints')
        expected = sorted(
            [r for r in rows if r[1] != tracks[2]]
            + [(lm.hash, tracks[2], lm.offset) for lm in _landmarks(9, 50)]
        )
        assert sorted((r["hash"], r["track_id"], r["offset"]) for r in back) == expected
    finally:
        await conn.close()
