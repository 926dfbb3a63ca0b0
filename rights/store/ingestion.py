"""What ingestion needs beyond the rights graph's interface (PostgreSQL only): matching delivered parties and
recordings to stored ones, releases, unknown shares, and replacing a re-delivered share."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from rights.model import AdministrationEdge, ControlEdge, Party, Recording, Release, Right, UnknownShare, Work
from rights.store.postgres import _administration, _control, _party, _recording, _scope_values, _work


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


async def party_by_name(conn: asyncpg.Connection, organisation_id: UUID, name: str) -> Party | None:
    """The organisation's own party of this name without IPI or ISNI (a delivery named it so before; a
    sender's own ids differ from sender to sender)."""
    row = await conn.fetchrow(
        """SELECT * FROM rights_parties WHERE organisation_id = $1 AND name = $2 AND ipi IS NULL AND isni IS NULL
            ORDER BY created_at, id LIMIT 1""",
        organisation_id, name,
    )  # fmt: skip
    return _party(row) if row else None


async def work_by_title(conn: asyncpg.Connection, organisation_id: UUID, title: str) -> Work | None:
    """The organisation's own work of this title without ISWC."""
    row = await conn.fetchrow(
        """SELECT *, ARRAY[]::uuid[] AS writer_ids FROM rights_works
            WHERE organisation_id = $1 AND title = $2 AND iswc IS NULL ORDER BY created_at, id LIMIT 1""",
        organisation_id, title,
    )  # fmt: skip
    return _work(row) if row else None


async def recording_by_proprietary_id(
    conn: asyncpg.Connection, organisation_id: UUID, proprietary_id: str
) -> Recording | None:
    row = await conn.fetchrow(
        "SELECT * FROM rights_recordings WHERE organisation_id = $1 AND proprietary_id = $2",
        organisation_id, proprietary_id,
    )  # fmt: skip
    return _recording(row) if row else None


async def recording_by_title(
    conn: asyncpg.Connection, organisation_id: UUID, title: str, artist: str
) -> Recording | None:
    """The organisation's own recording of this title and artist that has neither ISRC nor sender's id."""
    row = await conn.fetchrow(
        """SELECT * FROM rights_recordings WHERE organisation_id = $1 AND title = $2 AND artist = $3
              AND isrc IS NULL AND proprietary_id IS NULL ORDER BY created_at, id LIMIT 1""",
        organisation_id, title, artist,
    )  # fmt: skip
    return _recording(row) if row else None


async def update_recording(conn: asyncpg.Connection, recording: Recording) -> bool:
    """Write a re-delivered recording's title, artist, duration and work; whether anything changed."""
    status = await conn.execute(
        """UPDATE rights_recordings SET title = $2, artist = $3, duration_seconds = $4,
                  work_id = coalesce($5, work_id), proprietary_id = coalesce($6, proprietary_id)
            WHERE id = $1 AND (title, artist, duration_seconds, work_id, proprietary_id)
                  IS DISTINCT FROM ($2, $3, $4, coalesce($5, work_id), coalesce($6, proprietary_id))""",
        recording.id, recording.title, recording.artist, recording.duration_seconds, recording.work_id,
        recording.proprietary_id,
    )  # fmt: skip
    return bool(status.endswith(" 1"))


async def replace_shares(conn: asyncpg.Connection, edge: ControlEdge) -> int:
    """Remove the stored shares of the same side, right, territories and period as `edge`; how many."""
    include, exclude, _countries = _scope_values(edge.territories)
    status = await conn.execute(
        """DELETE FROM rights_control
            WHERE "right" = $1 AND (recording_id = $2 OR work_id = $2) AND include = $3 AND exclude = $4
              AND start_date = $5 AND end_date IS NOT DISTINCT FROM $6""",
        edge.right.value, edge.subject_id, include, exclude, edge.period.start, edge.period.end,
    )  # fmt: skip
    return int(status.split()[-1])


async def shares_of(conn: asyncpg.Connection, subject_ids: Sequence[UUID]) -> list[ControlEdge]:
    rows = await conn.fetch(
        "SELECT * FROM rights_control WHERE recording_id = ANY($1::uuid[]) OR work_id = ANY($1::uuid[])",
        list(subject_ids),
    )
    return [_control(r) for r in rows]


async def put_releases(conn: asyncpg.Connection, releases: Sequence[Release]) -> int:
    """Insert releases, or update those the organisation already has under the same identifier; how many new."""
    created = 0
    for r in releases:
        scope = _scope_values(r.territories) if r.territories else (None, None, None)
        row = await conn.fetchrow(
            """INSERT INTO rights_releases (id, organisation_id, title, kind, identifier, recording_ids, include,
                                            exclude, countries, start_date, end_date)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT (organisation_id, identifier) WHERE identifier IS NOT NULL DO UPDATE
                  SET title = EXCLUDED.title, recording_ids = EXCLUDED.recording_ids, include = EXCLUDED.include,
                      exclude = EXCLUDED.exclude, countries = EXCLUDED.countries,
                      start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date
               RETURNING (xmax = 0) AS inserted""",
            r.id, r.organisation_id, r.title, r.kind, r.identifier, list(r.recording_ids), *scope,
            r.period.start if r.period else None, r.period.end if r.period else None,
        )  # fmt: skip
        created += 1 if row and row["inserted"] else 0
    return created


async def put_unknown_shares(conn: asyncpg.Connection, shares: Sequence[UnknownShare]) -> None:
    """Store shares delivered as unknown, replacing those of the same party, side, territories and period."""
    for s in shares:
        include, exclude, countries = _scope_values(s.territories)
        master = s.right is Right.MASTER
        await conn.execute(
            """DELETE FROM rights_unknown_shares WHERE party_id = $1 AND (recording_id = $2 OR work_id = $2)
                  AND include = $3 AND exclude = $4 AND start_date = $5 AND end_date IS NOT DISTINCT FROM $6""",
            s.party_id, s.subject_id, include, exclude, s.period.start, s.period.end,
        )  # fmt: skip
        await conn.execute(
            """INSERT INTO rights_unknown_shares (id, party_id, "right", recording_id, work_id, include, exclude,
                                                  countries, start_date, end_date)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            s.id, s.party_id, s.right.value, s.subject_id if master else None, None if master else s.subject_id,
            include, exclude, countries, s.period.start, s.period.end,
        )  # fmt: skip


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


async def remove_same_administration(conn: asyncpg.Connection, edge: AdministrationEdge) -> int:
    """Remove stored administration of the same parties, subject, territories and period (a re-delivery)."""
    include, exclude, _countries = _scope_values(edge.territories)
    status = await conn.execute(
        """DELETE FROM rights_administration
            WHERE administrator_id = $1 AND administered_id = $2
              AND coalesce(work_id, recording_id) IS NOT DISTINCT FROM $3 AND include = $4 AND exclude = $5
              AND start_date = $6 AND end_date IS NOT DISTINCT FROM $7""",
        edge.administrator_id, edge.administered_id, edge.subject_id, include, exclude, edge.period.start,
        edge.period.end,
    )  # fmt: skip
    return int(status.split()[-1])


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
