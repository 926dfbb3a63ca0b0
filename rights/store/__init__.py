"""Where the rights graph is kept: one interface, a PostgreSQL backend (default) and an ArangoDB backend."""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import date
from typing import Protocol
from uuid import UUID

import asyncpg

from rights.imports import ImportBatch
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    GrantedLicence,
    LicensingPolicy,
    Party,
    Recording,
    Subject,
    TrackRights,
    Work,
)
from rights.terms import Media


class RightsStore(Protocol):
    """Reads and writes of the rights graph. Writes through a PostgreSQL store join the caller's transaction."""

    async def add_party(self, party: Party) -> None: ...

    async def get_party(self, party_id: UUID) -> Party | None: ...

    async def find_party(self, *, ipi: str | None = None, isni: str | None = None) -> Party | None: ...

    async def parties_of(self, organisation_id: UUID) -> list[Party]: ...

    async def add_work(self, work: Work) -> None: ...

    async def find_work(self, iswc: str) -> Work | None: ...

    async def add_recording(self, recording: Recording) -> None: ...

    async def find_recording(self, isrc: str) -> Recording | None: ...

    async def recording_for_track(self, track_id: UUID) -> Recording | None: ...

    async def subject(self, subject_id: UUID) -> Subject | None:
        """The recording or work with this id and the organisation controlling it (for a recording on a
        catalogue track, the track's owner)."""
        ...

    async def tracks_of(self, subject_id: UUID) -> list[UUID]:
        """The catalogue tracks of a recording, or of the recordings of a work."""
        ...

    async def add_control(self, edge: ControlEdge) -> None: ...

    async def get_control(self, edge_id: UUID) -> ControlEdge | None: ...

    async def remove_control(self, edge_id: UUID) -> None: ...

    async def add_administration(self, edge: AdministrationEdge) -> None: ...

    async def add_licence(self, licence: GrantedLicence) -> None: ...

    async def put_policy(self, policy: LicensingPolicy) -> LicensingPolicy:
        """Store the party's policy for its track (or catalogue), replacing the one before; returns it as stored."""
        ...

    async def add_batch(self, batch: ImportBatch) -> None:
        """Store a whole import's parties, works, recordings and edges in bulk."""
        ...

    async def track_rights(self, track_id: UUID) -> TrackRights | None:
        """Everything clearance needs about a track, administration chains followed to their ends."""
        ...

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
        """Tracks whose work `writer_id` co-wrote and `publisher_id` publishes or administers in `countries`,
        with complete splits on both sides in every one of them on `on` and no exclusive licence there
        (of `media`, or of any medium when None)."""
        ...


def open_store(conn: asyncpg.Connection) -> RightsStore:
    """The backend RIGHTS_BACKEND names: PostgreSQL on the caller's connection, or ArangoDB at ARANGO_URL."""
    backend = os.environ.get("RIGHTS_BACKEND", "postgres")
    if backend == "postgres":
        from rights.store.postgres import PostgresRightsStore

        return PostgresRightsStore(conn)
    if backend == "arango":
        from rights.store.arango import ArangoRightsStore

        url = os.environ.get("ARANGO_URL")
        if not url:
            raise RuntimeError("RIGHTS_BACKEND=arango needs ARANGO_URL")
        return ArangoRightsStore.connect(url)
    raise RuntimeError(f"RIGHTS_BACKEND must be postgres or arango, got {backend!r}")
