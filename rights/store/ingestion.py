"""What ingestion needs beyond the rights graph's interface (PostgreSQL only): matching delivered parties and
recordings to stored ones, releases, unknown shares, and replacing a re-delivered share."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from rights.model import (
    AdministrationEdge,
    ControlEdge,
    Party,
    Period,
    Recording,
    Release,
    Right,
    Subject,
    UnknownShare,
    Work,
)
from rights.store.postgres import _administration, _control, _party, _recording, _scope_values, _work
from rights.territories import TerritoryScope


async def parties_by_name(
    conn: asyncpg.Connection, organisation_id: UUID, names: Sequence[str]
) -> dict[str, Party]:
    """The organisation's own parties of these names without IPI or ISNI (a delivery named them so before;
    a sender's own ids differ from sender to sender)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (name) * FROM rights_parties
            WHERE organisation_id = $1 AND name = ANY($2::text[]) AND ipi IS NULL AND isni IS NULL
            ORDER BY name, created_at, id""",
        organisation_id, list(names),
    )  # fmt: skip
    return {r["name"]: _party(r) for r in rows}


async def works_by_iswc(conn: asyncpg.Connection, iswcs: Sequence[str]) -> dict[str, UUID]:
    rows = await conn.fetch("SELECT id, iswc FROM rights_works WHERE iswc = ANY($1::text[])", list(iswcs))
    return {r["iswc"]: r["id"] for r in rows}


async def works_by_title(
    conn: asyncpg.Connection, organisation_id: UUID, titles: Sequence[str]
) -> dict[str, UUID]:
    """The organisation's own works without ISWC, by title."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (title) id, title FROM rights_works
            WHERE organisation_id = $1 AND title = ANY($2::text[]) AND iswc IS NULL ORDER BY title, created_at, id""",
        organisation_id, list(titles),
    )  # fmt: skip
    return {r["title"]: r["id"] for r in rows}


async def recordings_matching(
    conn: asyncpg.Connection, organisation_id: UUID, *, isrcs: Sequence[str], proprietary_ids: Sequence[str],
    titles: Sequence[str],
) -> tuple[dict[str, Recording], dict[str, Recording], dict[tuple[str, str], Recording]]:  # fmt: skip
    """Stored recordings by ISRC (anyone's), by the organisation's sender ids, and by title and artist among
    the organisation's recordings that have neither."""
    by_isrc = {r["isrc"]: _recording(r) for r in await conn.fetch(
        "SELECT * FROM rights_recordings WHERE isrc = ANY($1::text[])", list(isrcs))}  # fmt: skip
    by_own_id = {r["proprietary_id"]: _recording(r) for r in await conn.fetch(
        "SELECT * FROM rights_recordings WHERE organisation_id = $1 AND proprietary_id = ANY($2::text[])",
        organisation_id, list(proprietary_ids))}  # fmt: skip
    by_title: dict[tuple[str, str], Recording] = {}
    for row in await conn.fetch(
        """SELECT * FROM rights_recordings WHERE organisation_id = $1 AND title = ANY($2::text[])
              AND isrc IS NULL AND proprietary_id IS NULL ORDER BY created_at DESC, id DESC""",
        organisation_id, list(titles),
    ):  # fmt: skip
        by_title[row["title"], row["artist"]] = _recording(row)
    return by_isrc, by_own_id, by_title


async def subjects(conn: asyncpg.Connection, subject_ids: Sequence[UUID]) -> dict[UUID, Subject]:
    """Recordings and works with the organisation controlling each (for a recording on a track, its owner)."""
    rows = await conn.fetch(
        """SELECT r.id, 'master' AS kind, r.title,
                  coalesce(t.owner_organisation_id, r.organisation_id) AS organisation_id
             FROM rights_recordings r LEFT JOIN tracks t ON t.id = r.track_id WHERE r.id = ANY($1::uuid[])
           UNION ALL
           SELECT w.id, 'publishing', w.title, w.organisation_id FROM rights_works w WHERE w.id = ANY($1::uuid[])""",
        list(subject_ids),
    )
    return {r["id"]: Subject(id=r["id"], kind=Right(r["kind"]), title=r["title"],
                             organisation_id=r["organisation_id"]) for r in rows}  # fmt: skip


async def update_recordings(conn: asyncpg.Connection, recordings: Sequence[Recording]) -> None:
    """Write re-delivered recordings' title, artist, duration, work and sender id."""
    await conn.executemany(
        """UPDATE rights_recordings SET title = $2, artist = $3, duration_seconds = $4,
                  work_id = coalesce($5, work_id), proprietary_id = coalesce($6, proprietary_id) WHERE id = $1""",
        [(r.id, r.title, r.artist, r.duration_seconds, r.work_id, r.proprietary_id) for r in recordings],
    )


def _keys(
    scopes: Sequence[tuple[TerritoryScope, Period]],
) -> tuple[list[str], list[str], list[object], list[object]]:
    return ([",".join(s.include) for s, _ in scopes], [",".join(s.exclude) for s, _ in scopes],
            [p.start for _, p in scopes], [p.end for _, p in scopes])  # fmt: skip


async def replace_shares(conn: asyncpg.Connection, edges: Sequence[ControlEdge]) -> int:
    """Remove the stored shares of the same side, right, territories and period as any of `edges`; how many.
    One statement per side, each joining on its indexed column."""
    removed = 0
    for right, column in ((Right.MASTER, "recording_id"), (Right.PUBLISHING, "work_id")):
        side = [e for e in edges if e.right is right]
        if not side:
            continue
        status = await conn.execute(
            f"""DELETE FROM rights_control c
                 USING unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::date[])
                       AS k(subject_id, include, exclude, start_date, end_date)
                 WHERE c.{column} = k.subject_id AND c."right" = $6
                   AND array_to_string(c.include, ',') = k.include AND array_to_string(c.exclude, ',') = k.exclude
                   AND c.start_date = k.start_date AND c.end_date IS NOT DISTINCT FROM k.end_date""",
            [e.subject_id for e in side], *_keys([(e.territories, e.period) for e in side]), right.value,
        )  # fmt: skip
        removed += int(status.split()[-1])
    return removed


async def remove_same_administration(conn: asyncpg.Connection, edges: Sequence[AdministrationEdge]) -> None:
    """Remove stored administration of the same parties, subject, territories and period (a re-delivery).
    Imports only write administration of one work or recording, found by its indexed column."""
    for column in ("work_id", "recording_id"):
        await conn.execute(
            f"""DELETE FROM rights_administration a
                 USING unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::date[], $7::date[])
                       AS k(administrator_id, administered_id, subject_id, include, exclude, start_date, end_date)
                 WHERE a.{column} = k.subject_id AND a.administered_id = k.administered_id
                   AND a.administrator_id = k.administrator_id
                   AND array_to_string(a.include, ',') = k.include AND array_to_string(a.exclude, ',') = k.exclude
                   AND a.start_date = k.start_date AND a.end_date IS NOT DISTINCT FROM k.end_date""",
            [a.administrator_id for a in edges], [a.administered_id for a in edges],
            [a.subject_id for a in edges], *_keys([(a.territories, a.period) for a in edges]),
        )  # fmt: skip


async def put_unknown_shares(conn: asyncpg.Connection, shares: Sequence[UnknownShare]) -> None:
    """Store shares delivered as unknown (of masters: DDEX is their only source), replacing those of the
    same party, recording, territories and period."""
    await conn.execute(
        """DELETE FROM rights_unknown_shares u
            USING unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::date[], $6::date[])
                  AS k(party_id, subject_id, include, exclude, start_date, end_date)
            WHERE u.party_id = k.party_id AND u.recording_id = k.subject_id
              AND array_to_string(u.include, ',') = k.include AND array_to_string(u.exclude, ',') = k.exclude
              AND u.start_date = k.start_date AND u.end_date IS NOT DISTINCT FROM k.end_date""",
        [s.party_id for s in shares], [s.subject_id for s in shares],
        *_keys([(s.territories, s.period) for s in shares]),
    )  # fmt: skip
    await conn.executemany(
        """INSERT INTO rights_unknown_shares (id, party_id, "right", recording_id, work_id, include, exclude,
                                              countries, start_date, end_date)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        [(s.id, s.party_id, s.right.value, s.subject_id if s.right is Right.MASTER else None,
          None if s.right is Right.MASTER else s.subject_id, *_scope_values(s.territories), s.period.start,
          s.period.end) for s in shares],
    )  # fmt: skip


async def put_releases(conn: asyncpg.Connection, organisation_id: UUID, releases: Sequence[Release]) -> int:
    """Insert releases, or update those the organisation already has under the same identifier; how many new."""
    known = {r["identifier"] for r in await conn.fetch(
        "SELECT identifier FROM rights_releases WHERE organisation_id = $1 AND identifier = ANY($2::text[])",
        organisation_id, [r.identifier for r in releases if r.identifier])}  # fmt: skip
    await conn.executemany(
        """INSERT INTO rights_releases (id, organisation_id, title, kind, identifier, recording_ids, include,
                                        exclude, countries, start_date, end_date)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (organisation_id, identifier) WHERE identifier IS NOT NULL DO UPDATE
              SET title = EXCLUDED.title, recording_ids = EXCLUDED.recording_ids, include = EXCLUDED.include,
                  exclude = EXCLUDED.exclude, countries = EXCLUDED.countries,
                  start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date""",
        [(r.id, organisation_id, r.title, r.kind, r.identifier, list(r.recording_ids),
          *(_scope_values(r.territories) if r.territories else (None, None, None)),
          r.period.start if r.period else None, r.period.end if r.period else None) for r in releases],
    )  # fmt: skip
    return sum(1 for r in releases if r.identifier not in known)


async def parties_by_identifier(conn: asyncpg.Connection, identifiers: Sequence[str]) -> dict[str, Party]:
    """Each of the identifiers (SCHEME:value) held by a stored party, with that party."""
    rows = await conn.fetch(
        """SELECT * FROM rights_parties
            WHERE identifiers && $1::text[] OR 'IPI:' || ipi = ANY($1) OR 'ISNI:' || isni = ANY($1)
            ORDER BY created_at, id""",
        list(identifiers),
    )
    found: dict[str, Party] = {}
    for row in rows:
        party = _party(row)
        held = {*party.identifiers, *([f"IPI:{party.ipi}"] if party.ipi else []),
                *([f"ISNI:{party.isni}"] if party.isni else [])}  # fmt: skip
        for identifier in held:
            found.setdefault(identifier, party)
    return found


async def shares_of(conn: asyncpg.Connection, subject_ids: Sequence[UUID]) -> list[ControlEdge]:
    rows = await conn.fetch(
        "SELECT * FROM rights_control WHERE recording_id = ANY($1::uuid[]) OR work_id = ANY($1::uuid[])",
        list(subject_ids),
    )
    return [_control(r) for r in rows]


# What an organisation holds, and its import history


async def record_import(
    conn: asyncpg.Connection,
    import_id: UUID,
    organisation_id: UUID,
    user_id: UUID,
    source: str,
    report: object,
) -> None:
    await conn.execute(
        "INSERT INTO rights_imports (id, organisation_id, user_id, source, report) VALUES ($1, $2, $3, $4, $5)",
        import_id, organisation_id, user_id, source, report,
    )  # fmt: skip


async def imports_of(
    conn: asyncpg.Connection, organisation_id: UUID, source: str | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        """SELECT * FROM rights_imports WHERE organisation_id = $1 AND ($2::text IS NULL OR source = $2)
            ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""",
        organisation_id, source, limit, offset,
    ))  # fmt: skip


async def import_of(
    conn: asyncpg.Connection, organisation_id: UUID, import_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM rights_imports WHERE organisation_id = $1 AND id = $2", organisation_id, import_id
    )
    return row


async def recordings_of(
    conn: asyncpg.Connection, organisation_id: UUID, *, isrc: str | None, title: str | None,
    awaiting_audio: bool | None, limit: int, offset: int, recording_id: UUID | None = None,
) -> list[Recording]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT * FROM rights_recordings
            WHERE organisation_id = $1 AND ($2::text IS NULL OR isrc = $2)
              AND ($3::text IS NULL OR title ILIKE '%' || $3 || '%')
              AND ($4::boolean IS NULL OR (track_id IS NULL) = $4) AND ($7::uuid IS NULL OR id = $7)
            ORDER BY title, id LIMIT $5 OFFSET $6""",
        organisation_id, isrc, title, awaiting_audio, limit, offset, recording_id,
    )  # fmt: skip
    return [_recording(r) for r in rows]


async def works_of(
    conn: asyncpg.Connection, organisation_id: UUID, *, iswc: str | None, title: str | None, limit: int,
    offset: int, work_id: UUID | None = None,
) -> list[Work]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT w.*, array(SELECT party_id FROM rights_work_writers ww WHERE ww.work_id = w.id
                              ORDER BY position) AS writer_ids
             FROM rights_works w
            WHERE organisation_id = $1 AND ($2::text IS NULL OR iswc = $2)
              AND ($3::text IS NULL OR title ILIKE '%' || $3 || '%') AND ($6::uuid IS NULL OR id = $6)
            ORDER BY title, id LIMIT $4 OFFSET $5""",
        organisation_id, iswc, title, limit, offset, work_id,
    )  # fmt: skip
    return [_work(r) for r in rows]


async def parties_filtered(
    conn: asyncpg.Connection, organisation_id: UUID, *, name: str | None, kind: str | None,
    identifier: str | None, limit: int, offset: int,
) -> list[Party]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT * FROM rights_parties
            WHERE organisation_id = $1 AND ($2::text IS NULL OR name ILIKE '%' || $2 || '%')
              AND ($3::text IS NULL OR kind = $3)
              AND ($4::text IS NULL OR $4 = ANY(identifiers) OR 'IPI:' || ipi = $4 OR 'ISNI:' || isni = $4)
            ORDER BY name, id LIMIT $5 OFFSET $6""",
        organisation_id, name, kind, identifier, limit, offset,
    )  # fmt: skip
    return [_party(r) for r in rows]


async def shares_held(
    conn: asyncpg.Connection, organisation_id: UUID, *, subject_id: UUID | None, party_id: UUID | None,
    right: Right | None, limit: int, offset: int,
) -> list[ControlEdge]:  # fmt: skip
    """Shares on the recordings and works the organisation controls."""
    rows = await conn.fetch(
        """SELECT c.* FROM rights_control c
             LEFT JOIN rights_recordings r ON r.id = c.recording_id
             LEFT JOIN rights_works w ON w.id = c.work_id
            WHERE coalesce(r.organisation_id, w.organisation_id) = $1
              AND ($2::uuid IS NULL OR c.recording_id = $2 OR c.work_id = $2)
              AND ($3::uuid IS NULL OR c.party_id = $3) AND ($4::text IS NULL OR c."right" = $4)
            ORDER BY c.start_date, c.id LIMIT $5 OFFSET $6""",
        organisation_id, subject_id, party_id, right.value if right else None, limit, offset,
    )  # fmt: skip
    return [_control(r) for r in rows]


async def administration_of(
    conn: asyncpg.Connection, subject_ids: Sequence[UUID]
) -> list[AdministrationEdge]:
    rows = await conn.fetch(
        """SELECT * FROM rights_administration WHERE work_id = ANY($1::uuid[]) OR recording_id = ANY($1::uuid[])
            ORDER BY id""",
        list(subject_ids),
    )
    return [_administration(r) for r in rows]


async def parties_by_id(conn: asyncpg.Connection, party_ids: Sequence[UUID]) -> dict[UUID, Party]:
    rows = await conn.fetch("SELECT * FROM rights_parties WHERE id = ANY($1::uuid[])", list(party_ids))
    return {r["id"]: _party(r) for r in rows}


async def organisation_name(conn: asyncpg.Connection, organisation_id: UUID) -> str:
    name: str | None = await conn.fetchval("SELECT name FROM organisations WHERE id = $1", organisation_id)
    return name or str(organisation_id)


async def delete_recording(conn: asyncpg.Connection, recording_id: UUID) -> None:
    """The recording, its shares, unknown shares, administration and licences (cascades), and its place in
    releases."""
    await conn.execute(
        "UPDATE rights_releases SET recording_ids = array_remove(recording_ids, $1) WHERE $1 = ANY(recording_ids)",
        recording_id,
    )
    await conn.execute("DELETE FROM rights_recordings WHERE id = $1", recording_id)
