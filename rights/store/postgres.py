"""The rights graph in PostgreSQL: plain tables, recursive CTEs for administration chains."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from rights.imports import ImportBatch
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    GrantedLicence,
    LicensingPolicy,
    Party,
    PartyKind,
    Period,
    Recording,
    Right,
    Subject,
    TrackRights,
    Work,
)
from rights.terms import Media
from rights.territories import TerritoryScope

# In tracks_in_graph $2 is the day the graph is read on.
_DATES_IN_FORCE = "start_date <= $2 AND (end_date IS NULL OR end_date >= $2)"


def _scope(row: asyncpg.Record) -> TerritoryScope:
    return TerritoryScope(include=tuple(row["include"]), exclude=tuple(row["exclude"]))


def _period(row: asyncpg.Record) -> Period:
    return Period(start=row["start_date"], end=row["end_date"])


def _party(row: asyncpg.Record) -> Party:
    return Party(id=row["id"], name=row["name"], kind=PartyKind(row["kind"]), ipi=row["ipi"], isni=row["isni"],
                 organisation_id=row["organisation_id"], identifiers=tuple(row["identifiers"]))  # fmt: skip


def _work(row: asyncpg.Record) -> Work:
    return Work(id=row["id"], title=row["title"], iswc=row["iswc"], writer_ids=tuple(row["writer_ids"] or ()),
                organisation_id=row["organisation_id"])  # fmt: skip


def _recording(row: asyncpg.Record) -> Recording:
    return Recording(id=row["id"], title=row["title"], isrc=row["isrc"], work_id=row["work_id"],
                     track_id=row["track_id"], organisation_id=row["organisation_id"], artist=row["artist"],
                     duration_seconds=row["duration_seconds"], proprietary_id=row["proprietary_id"])  # fmt: skip


def _control(row: asyncpg.Record) -> ControlEdge:
    return ControlEdge(
        id=row["id"], party_id=row["party_id"], subject_id=row["recording_id"] or row["work_id"],
        right=Right(row["right"]), share_bp=row["share_bp"], territories=_scope(row), period=_period(row),
    )  # fmt: skip


def _administration(row: asyncpg.Record) -> AdministrationEdge:
    return AdministrationEdge(
        id=row["id"], administrator_id=row["administrator_id"], administered_id=row["administered_id"],
        subject_id=row["work_id"] or row["recording_id"], territories=_scope(row), period=_period(row),
    )  # fmt: skip


def _licence(row: asyncpg.Record) -> GrantedLicence:
    return GrantedLicence(
        id=row["id"], recording_id=row["recording_id"], licensee=row["licensee"], media=Media(row["media"]),
        territories=_scope(row), period=_period(row), exclusive=row["exclusive"],
    )  # fmt: skip


def _policy(row: asyncpg.Record) -> LicensingPolicy:
    # JSON object keys are strings; strict=False turns the rate card's term brackets back into ints.
    return msgspec.convert(row["policy"], LicensingPolicy, strict=False)


def _scope_values(scope: TerritoryScope) -> tuple[list[str], list[str], list[str]]:
    return list(scope.include), list(scope.exclude), sorted(scope.countries())


_PARTY_SQL = """
    INSERT INTO rights_parties (id, name, kind, ipi, isni, organisation_id, identifiers)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
_WORK_SQL = "INSERT INTO rights_works (id, title, iswc, organisation_id) VALUES ($1, $2, $3, $4)"
_WRITER_SQL = "INSERT INTO rights_work_writers (work_id, party_id, position) VALUES ($1, $2, $3)"
_RECORDING_SQL = """
    INSERT INTO rights_recordings (id, title, isrc, work_id, track_id, organisation_id, artist, duration_seconds,
                                   proprietary_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
_CONTROL_SQL = """
    INSERT INTO rights_control (id, party_id, "right", recording_id, work_id, share_bp, include, exclude,
                                countries, start_date, end_date)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""
_ADMINISTRATION_SQL = """
    INSERT INTO rights_administration (id, administrator_id, administered_id, work_id, recording_id, include,
                                       exclude, countries, start_date, end_date)
    SELECT $1, $2, $3, (SELECT id FROM rights_works WHERE id = $4), (SELECT id FROM rights_recordings WHERE id = $4),
           $5, $6, $7, $8, $9
"""


def _party_args(p: Party) -> tuple[Any, ...]:
    return (p.id, p.name, p.kind.value, p.ipi, p.isni, p.organisation_id, list(p.identifiers))


def _work_args(w: Work) -> tuple[Any, ...]:
    return (w.id, w.title, w.iswc, w.organisation_id)


def _recording_args(r: Recording) -> tuple[Any, ...]:
    return (
        r.id,
        r.title,
        r.isrc,
        r.work_id,
        r.track_id,
        r.organisation_id,
        r.artist,
        r.duration_seconds,
        r.proprietary_id,
    )


def _control_args(e: ControlEdge) -> tuple[Any, ...]:
    master = e.right is Right.MASTER
    return (e.id, e.party_id, e.right.value, e.subject_id if master else None, None if master else e.subject_id,
            e.share_bp, *_scope_values(e.territories), e.period.start, e.period.end)  # fmt: skip


def _administration_args(a: AdministrationEdge) -> tuple[Any, ...]:
    return (a.id, a.administrator_id, a.administered_id, a.subject_id, *_scope_values(a.territories),
            a.period.start, a.period.end)  # fmt: skip


class PostgresRightsStore:
    """The default backend; every statement runs on the caller's connection and inside its transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add_party(self, party: Party) -> None:
        await self.conn.execute(_PARTY_SQL, *_party_args(party))

    async def get_party(self, party_id: UUID) -> Party | None:
        row = await self.conn.fetchrow("SELECT * FROM rights_parties WHERE id = $1", party_id)
        return _party(row) if row else None

    async def find_party(self, *, ipi: str | None = None, isni: str | None = None) -> Party | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM rights_parties WHERE ipi = $1 OR isni = $2 ORDER BY ipi = $1 DESC LIMIT 1",
            ipi,
            isni,
        )
        return _party(row) if row else None

    async def parties_of(self, organisation_id: UUID) -> list[Party]:
        rows = await self.conn.fetch(
            "SELECT * FROM rights_parties WHERE organisation_id = $1 ORDER BY name", organisation_id
        )
        return [_party(r) for r in rows]

    async def add_work(self, work: Work) -> None:
        await self.conn.execute(_WORK_SQL, *_work_args(work))
        await self.conn.executemany(_WRITER_SQL, [(work.id, w, i) for i, w in enumerate(work.writer_ids)])

    async def _works(self, where: str, *args: Any) -> list[Work]:
        rows = await self.conn.fetch(
            f"""SELECT w.*, array(SELECT party_id FROM rights_work_writers ww WHERE ww.work_id = w.id
                                  ORDER BY position) AS writer_ids
                FROM rights_works w WHERE {where}""",
            *args,
        )
        return [_work(r) for r in rows]

    async def find_work(self, iswc: str) -> Work | None:
        works = await self._works("w.iswc = $1", iswc)
        return works[0] if works else None

    async def add_recording(self, recording: Recording) -> None:
        await self.conn.execute(_RECORDING_SQL, *_recording_args(recording))

    async def find_recording(self, isrc: str) -> Recording | None:
        row = await self.conn.fetchrow("SELECT * FROM rights_recordings WHERE isrc = $1", isrc)
        return _recording(row) if row else None

    async def recording_for_track(self, track_id: UUID) -> Recording | None:
        row = await self.conn.fetchrow("SELECT * FROM rights_recordings WHERE track_id = $1", track_id)
        return _recording(row) if row else None

    async def subject(self, subject_id: UUID) -> Subject | None:
        # A recording on a catalogue track is controlled by the track's owner, whatever was stored.
        row = await self.conn.fetchrow(
            """SELECT 'master' AS kind, r.title, coalesce(t.owner_organisation_id, r.organisation_id) AS organisation_id
                 FROM rights_recordings r LEFT JOIN tracks t ON t.id = r.track_id WHERE r.id = $1
               UNION ALL
               SELECT 'publishing', w.title, w.organisation_id FROM rights_works w WHERE w.id = $1""",
            subject_id,
        )
        if row is None:
            return None
        return Subject(id=subject_id, kind=Right(row["kind"]), title=row["title"],
                       organisation_id=row["organisation_id"])  # fmt: skip

    async def tracks_of(self, subject_id: UUID) -> list[UUID]:
        rows = await self.conn.fetch(
            """SELECT track_id FROM rights_recordings WHERE (id = $1 OR work_id = $1) AND track_id IS NOT NULL
                ORDER BY track_id""",
            subject_id,
        )
        return [r["track_id"] for r in rows]

    async def add_control(self, edge: ControlEdge) -> None:
        await self.conn.execute(_CONTROL_SQL, *_control_args(edge))

    async def get_control(self, edge_id: UUID) -> ControlEdge | None:
        row = await self.conn.fetchrow("SELECT * FROM rights_control WHERE id = $1", edge_id)
        return _control(row) if row else None

    async def remove_control(self, edge_id: UUID) -> None:
        await self.conn.execute("DELETE FROM rights_control WHERE id = $1", edge_id)

    async def add_administration(self, edge: AdministrationEdge) -> None:
        await self.conn.execute(_ADMINISTRATION_SQL, *_administration_args(edge))

    async def add_licence(self, licence: GrantedLicence) -> None:
        lic = licence
        await self.conn.execute(
            """INSERT INTO rights_licences (id, recording_id, licensee, media, include, exclude, countries,
                                            start_date, end_date, exclusive)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            lic.id, lic.recording_id, lic.licensee, lic.media.value, *_scope_values(lic.territories),
            lic.period.start, lic.period.end, lic.exclusive,
        )  # fmt: skip

    async def put_policy(self, policy: LicensingPolicy) -> LicensingPolicy:
        row = await self.conn.fetchrow(
            """INSERT INTO rights_policies (id, party_id, track_id, policy) VALUES ($1, $2, $3, $4)
               ON CONFLICT (party_id, coalesce(track_id, '00000000-0000-0000-0000-000000000000'::uuid))
               DO UPDATE SET policy = jsonb_set(EXCLUDED.policy, '{id}', to_jsonb(rights_policies.id)),
                             updated_at = now()
               RETURNING policy""",
            policy.id, policy.party_id, policy.track_id, policy,
        )  # fmt: skip
        assert row is not None
        return _policy(row)

    async def add_batch(self, batch: ImportBatch) -> None:
        await self.conn.executemany(_PARTY_SQL, [_party_args(p) for p in batch.parties])
        await self.conn.executemany(_WORK_SQL, [_work_args(w) for w in batch.works])
        await self.conn.executemany(
            _WRITER_SQL, [(w.id, p, i) for w in batch.works for i, p in enumerate(w.writer_ids)]
        )
        await self.conn.executemany(_RECORDING_SQL, [_recording_args(r) for r in batch.recordings])
        await self.conn.executemany(_CONTROL_SQL, [_control_args(e) for e in batch.control])
        await self.conn.executemany(
            _ADMINISTRATION_SQL, [_administration_args(a) for a in batch.administration]
        )

    async def track_rights(self, track_id: UUID) -> TrackRights | None:
        recording = await self.recording_for_track(track_id)
        if recording is None:
            return None
        works = await self._works("w.id = $1", recording.work_id) if recording.work_id else []
        work = works[0] if works else None
        control = [
            _control(r)
            for r in await self.conn.fetch(
                "SELECT * FROM rights_control WHERE recording_id = $1 OR work_id = $2 ORDER BY id",
                recording.id, recording.work_id,
            )
        ]  # fmt: skip
        # Every administration edge reachable upwards from the owners; UNION stops at cycles.
        administration = [
            _administration(r)
            for r in await self.conn.fetch(
                """WITH RECURSIVE chain AS (
                       SELECT a.* FROM rights_administration a
                        WHERE a.administered_id = ANY($1::uuid[])
                          AND (a.work_id IS NULL AND a.recording_id IS NULL OR a.work_id = $2 OR a.recording_id = $3)
                       UNION
                       SELECT a.* FROM rights_administration a JOIN chain c ON a.administered_id = c.administrator_id
                        WHERE a.work_id IS NULL AND a.recording_id IS NULL OR a.work_id = $2 OR a.recording_id = $3
                   )
                   SELECT * FROM chain ORDER BY id""",
                list({e.party_id for e in control}), recording.work_id, recording.id,
            )
        ]  # fmt: skip
        licences = [
            _licence(r)
            for r in await self.conn.fetch(
                "SELECT * FROM rights_licences WHERE recording_id = $1 ORDER BY id", recording.id
            )
        ]
        party_ids = (
            {e.party_id for e in control}
            | {a.administrator_id for a in administration}
            | {a.administered_id for a in administration}
            | set(work.writer_ids if work else ())
        )
        parties = [
            _party(r)
            for r in await self.conn.fetch(
                "SELECT * FROM rights_parties WHERE id = ANY($1::uuid[])", list(party_ids)
            )
        ]
        policies = [
            _policy(r)
            for r in await self.conn.fetch(
                """SELECT policy FROM rights_policies
                    WHERE party_id = ANY($1::uuid[]) AND (track_id = $2 OR track_id IS NULL) ORDER BY id""",
                list(party_ids), track_id,
            )
        ]  # fmt: skip
        return TrackRights(
            track_id=track_id, recording=recording, work=work, parties={p.id: p for p in parties},
            control=tuple(control), administration=tuple(administration), licences=tuple(licences),
            policies=tuple(policies),
        )  # fmt: skip

    async def tracks_in_graph(
        self,
        *,
        countries: frozenset[str],
        on: date,
        writer_id: UUID | None = None,
        publisher_id: UUID | None = None,
        media: Media | None = None,
        among: Collection[UUID] | None = None,
    ) -> list[UUID]:
        # $1 countries, $2 day, $3 writer, $4 publisher, $5 medium, $6 tracks to choose among
        rows = await self.conn.fetch(
            f"""
            WITH RECURSIVE scope AS MATERIALIZED (
                -- The works worth looking at, narrowed first by writer and by the tracks to choose among.
                SELECT DISTINCT r.work_id FROM rights_recordings r
                 WHERE r.work_id IS NOT NULL AND r.track_id IS NOT NULL
                   AND ($3::uuid IS NULL
                        OR r.work_id IN (SELECT work_id FROM rights_work_writers WHERE party_id = $3))
                   AND ($6::uuid[] IS NULL OR r.track_id = ANY($6))
            ),
            publishing AS (
                SELECT c.work_id, c.party_id AS controller_id
                  FROM scope s JOIN rights_control c ON c.work_id = s.work_id
                 WHERE c."right" = 'publishing' AND c.countries && $1 AND {_DATES_IN_FORCE}
                UNION
                SELECT p.work_id, a.administrator_id
                  FROM publishing p
                  JOIN rights_administration a ON a.administered_id = p.controller_id
                 WHERE (a.work_id IS NULL OR a.work_id = p.work_id) AND a.recording_id IS NULL
                   AND a.countries && $1 AND a.{_DATES_IN_FORCE}
            ),
            candidates AS (
                SELECT DISTINCT r.id AS recording_id, r.work_id, r.track_id
                  FROM rights_recordings r
                  JOIN publishing p ON p.work_id = r.work_id
                 WHERE r.track_id IS NOT NULL
                   AND ($4::uuid IS NULL OR p.controller_id = $4)
                   AND ($6::uuid[] IS NULL OR r.track_id = ANY($6))
            )
            SELECT cand.track_id FROM candidates cand
             WHERE NOT EXISTS (
                   SELECT 1 FROM unnest($1::text[]) AS country(code)
                    WHERE (SELECT coalesce(sum(share_bp), 0) FROM rights_control c
                            WHERE c.recording_id = cand.recording_id AND country.code = ANY(c.countries)
                              AND {_DATES_IN_FORCE}) <> 10000
                       OR (SELECT coalesce(sum(share_bp), 0) FROM rights_control c
                            WHERE c.work_id = cand.work_id AND country.code = ANY(c.countries)
                              AND {_DATES_IN_FORCE}) <> 10000)
               AND NOT EXISTS (
                   SELECT 1 FROM rights_licences l
                    WHERE l.recording_id = cand.recording_id AND l.exclusive AND l.countries && $1
                      AND ($5::text IS NULL OR l.media = $5) AND l.{_DATES_IN_FORCE})
             ORDER BY cand.track_id
            """,
            sorted(countries), on, writer_id, publisher_id, media.value if media else None,
            list(among) if among is not None else None,
        )  # fmt: skip
        return [r["track_id"] for r in rows]
