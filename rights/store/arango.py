"""The rights graph in ArangoDB: parties, works and recordings as vertices, shares and administration as edges.

A named graph `rights` ties them together, and administration chains are AQL traversals. python-arango
is synchronous, so each call runs in a worker thread. Writes here are not part of the caller's
PostgreSQL transaction: with this backend the catalogue stays in PostgreSQL and the graph lives here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import msgspec
from arango.client import ArangoClient

from rights.imports import ImportBatch
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    GrantedLicence,
    LicensingPolicy,
    Party,
    Recording,
    Right,
    Subject,
    TrackRights,
    Work,
)
from rights.terms import Media
from rights.territories import TerritoryScope

T = TypeVar("T")

VERTICES = ("rights_parties", "rights_works", "rights_recordings")
EDGES = {
    "rights_control": (["rights_parties"], ["rights_works", "rights_recordings"]),
    "rights_administration": (["rights_parties"], ["rights_parties"]),
    "rights_writes": (["rights_parties"], ["rights_works"]),
}
DOCUMENTS = ("rights_licences", "rights_policies")
MAX_CHAIN = 10


def _in_force(var: str) -> str:
    return f"({var}.period.start <= @on AND ({var}.period.end == null OR {var}.period.end >= @on))"


def _doc(value: msgspec.Struct, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(value)
    return {"_key": doc["id"], **doc, **extra}


def _struct(doc: dict[str, Any] | None, kind: type[T]) -> T | None:
    return msgspec.convert(doc, kind, strict=False) if doc else None


def _countries(scope: TerritoryScope) -> list[str]:
    return sorted(scope.countries())


def _control_doc(edge: ControlEdge) -> dict[str, Any]:
    target = "rights_recordings" if edge.right is Right.MASTER else "rights_works"
    return _doc(edge, _from=f"rights_parties/{edge.party_id}", _to=f"{target}/{edge.subject_id}",
                countries=_countries(edge.territories))  # fmt: skip


def _administration_doc(edge: AdministrationEdge) -> dict[str, Any]:
    return _doc(edge, _from=f"rights_parties/{edge.administrator_id}", _to=f"rights_parties/{edge.administered_id}",
                countries=_countries(edge.territories))  # fmt: skip


def _writer_docs(work: Work) -> list[dict[str, Any]]:
    return [{"_from": f"rights_parties/{w}", "_to": f"rights_works/{work.id}", "position": i}
            for i, w in enumerate(work.writer_ids)]  # fmt: skip


class ArangoRightsStore:
    """The optional backend, selected with RIGHTS_BACKEND=arango and ARANGO_URL."""

    def __init__(self, db: Any) -> None:
        self.db = db

    @classmethod
    def connect(cls, url: str, database: str = "rights") -> ArangoRightsStore:
        """Open (creating when missing) the database, its collections and the named graph."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.hostname}:{parts.port or 8529}"
        username, password = parts.username or "root", parts.password or ""
        client = ArangoClient(hosts=host)
        system = client.db("_system", username=username, password=password)
        if not system.has_database(database):
            system.create_database(database)
        db = client.db(database, username=username, password=password)
        for name in (*VERTICES, *DOCUMENTS):
            if not db.has_collection(name):
                db.create_collection(name)
        for name in EDGES:
            if not db.has_collection(name):
                db.create_collection(name, edge=True)
        if not db.has_graph("rights"):
            db.create_graph("rights", edge_definitions=[
                {"edge_collection": name, "from_vertex_collections": sources, "to_vertex_collections": targets}
                for name, (sources, targets) in EDGES.items()
            ])  # fmt: skip
        for name, field in (("rights_parties", "ipi"), ("rights_parties", "isni"), ("rights_works", "iswc"),
                            ("rights_recordings", "isrc"), ("rights_recordings", "track_id")):  # fmt: skip
            db.collection(name).add_index(
                {"type": "persistent", "fields": [field], "unique": True, "sparse": True}
            )
        return cls(db)

    def reset(self) -> None:
        """Empty every collection (for tests)."""
        for name in (*VERTICES, *DOCUMENTS, *EDGES):
            self.db.collection(name).truncate()

    def _query(self, aql: str, **bind: Any) -> list[Any]:
        return list(self.db.aql.execute(aql, bind_vars=bind))

    async def _run(self, aql: str, **bind: Any) -> list[Any]:
        return await asyncio.to_thread(self._query, aql, **bind)

    async def _insert(self, collection: str, docs: list[dict[str, Any]]) -> None:
        if docs:
            await asyncio.to_thread(
                self.db.collection(collection).insert_many,
                docs,
                overwrite=False,
                raise_on_document_error=True,
            )

    async def add_party(self, party: Party) -> None:
        await self._insert("rights_parties", [_doc(party)])

    async def get_party(self, party_id: UUID) -> Party | None:
        found = await asyncio.to_thread(self.db.collection("rights_parties").get, str(party_id))
        return _struct(found, Party)

    async def find_party(self, *, ipi: str | None = None, isni: str | None = None) -> Party | None:
        found = await self._run(
            """FOR p IN rights_parties FILTER (@ipi != null AND p.ipi == @ipi) OR (@isni != null AND p.isni == @isni)
               SORT p.ipi == @ipi DESC LIMIT 1 RETURN p""",
            ipi=ipi, isni=isni,
        )  # fmt: skip
        return _struct(found[0] if found else None, Party)

    async def parties_of(self, organisation_id: UUID) -> list[Party]:
        found = await self._run(
            "FOR p IN rights_parties FILTER p.organisation_id == @org SORT p.name RETURN p",
            org=str(organisation_id),
        )
        return [msgspec.convert(p, Party, strict=False) for p in found]

    async def add_work(self, work: Work) -> None:
        await self._insert("rights_works", [_doc(work)])
        await self._insert("rights_writes", _writer_docs(work))

    async def find_work(self, iswc: str) -> Work | None:
        found = await self._run("FOR w IN rights_works FILTER w.iswc == @iswc LIMIT 1 RETURN w", iswc=iswc)
        return _struct(found[0] if found else None, Work)

    async def add_recording(self, recording: Recording) -> None:
        await self._insert("rights_recordings", [_doc(recording)])

    async def _recording_where(self, field: str, value: str) -> Recording | None:
        found = await self._run(
            "FOR r IN rights_recordings FILTER r.@field == @value LIMIT 1 RETURN r", field=field, value=value
        )
        return _struct(found[0] if found else None, Recording)

    async def find_recording(self, isrc: str) -> Recording | None:
        return await self._recording_where("isrc", isrc)

    async def recording_for_track(self, track_id: UUID) -> Recording | None:
        return await self._recording_where("track_id", str(track_id))

    async def subject(self, subject_id: UUID) -> Subject | None:
        # Recordings keep their track owner's organisation when written (tracks live in PostgreSQL).
        for collection, kind in (("rights_recordings", Right.MASTER), ("rights_works", Right.PUBLISHING)):
            doc = await asyncio.to_thread(self.db.collection(collection).get, str(subject_id))
            if doc:
                organisation = doc.get("organisation_id")
                return Subject(id=subject_id, kind=kind, title=doc["title"],
                               organisation_id=UUID(organisation) if organisation else None)  # fmt: skip
        return None

    async def tracks_of(self, subject_id: UUID) -> list[UUID]:
        found = await self._run(
            """FOR r IN rights_recordings FILTER (r.id == @id OR r.work_id == @id) AND r.track_id != null
               SORT r.track_id RETURN r.track_id""",
            id=str(subject_id),
        )
        return [UUID(t) for t in found]

    async def add_control(self, edge: ControlEdge) -> None:
        await self._insert("rights_control", [_control_doc(edge)])

    async def get_control(self, edge_id: UUID) -> ControlEdge | None:
        found = await asyncio.to_thread(self.db.collection("rights_control").get, str(edge_id))
        return _struct(found, ControlEdge)

    async def remove_control(self, edge_id: UUID) -> None:
        await asyncio.to_thread(
            self.db.collection("rights_control").delete, str(edge_id), ignore_missing=True
        )

    async def add_administration(self, edge: AdministrationEdge) -> None:
        await self._insert("rights_administration", [_administration_doc(edge)])

    async def add_licence(self, licence: GrantedLicence) -> None:
        await self._insert("rights_licences", [_doc(licence, countries=_countries(licence.territories))])

    async def put_policy(self, policy: LicensingPolicy) -> LicensingPolicy:
        track = str(policy.track_id) if policy.track_id else None
        found = await self._run(
            """FOR p IN rights_policies FILTER p.party_id == @party AND p.track_id == @track LIMIT 1 RETURN p._key""",
            party=str(policy.party_id), track=track,
        )  # fmt: skip
        stored = msgspec.structs.replace(policy, id=UUID(found[0])) if found else policy
        await asyncio.to_thread(self.db.collection("rights_policies").insert, _doc(stored), overwrite=True)
        return stored

    async def add_batch(self, batch: ImportBatch) -> None:
        await self._insert("rights_parties", [_doc(p) for p in batch.parties])
        await self._insert("rights_works", [_doc(w) for w in batch.works])
        await self._insert("rights_writes", [d for w in batch.works for d in _writer_docs(w)])
        await self._insert("rights_recordings", [_doc(r) for r in batch.recordings])
        await self._insert("rights_control", [_control_doc(e) for e in batch.control])
        await self._insert("rights_administration", [_administration_doc(a) for a in batch.administration])

    async def track_rights(self, track_id: UUID) -> TrackRights | None:
        recording = await self.recording_for_track(track_id)
        if recording is None:
            return None
        work = None
        if recording.work_id:
            found = await asyncio.to_thread(self.db.collection("rights_works").get, str(recording.work_id))
            work = _struct(found, Work)
        subjects = [str(recording.id), *([str(recording.work_id)] if recording.work_id else [])]
        targets = [
            f"rights_recordings/{recording.id}",
            *([f"rights_works/{recording.work_id}"] if recording.work_id else []),
        ]
        control = [msgspec.convert(e, ControlEdge, strict=False) for e in await self._run(
            "FOR e IN rights_control FILTER e._to IN @targets SORT e._key RETURN e", targets=targets)]  # fmt: skip
        # Walk up from each owner to whoever administers it, never past an edge for another work or recording.
        administration = [msgspec.convert(e, AdministrationEdge, strict=False) for e in await self._run(
            f"""FOR owner IN @owners
                  FOR v, e IN 1..{MAX_CHAIN} INBOUND owner rights_administration
                    OPTIONS {{uniqueVertices: "path"}}
                    PRUNE e.subject_id != null AND e.subject_id NOT IN @subjects
                    FILTER e.subject_id == null OR e.subject_id IN @subjects
                    COLLECT key = e._key INTO found = e
                    SORT key
                    RETURN found[0]""",
            owners=sorted({f"rights_parties/{e.party_id}" for e in control}), subjects=subjects)]  # fmt: skip
        licences = [msgspec.convert(doc, GrantedLicence, strict=False) for doc in await self._run(
            "FOR l IN rights_licences FILTER l.recording_id == @rid SORT l._key RETURN l", rid=str(recording.id))]  # fmt: skip
        party_ids = sorted(
            {str(e.party_id) for e in control}
            | {str(a.administrator_id) for a in administration}
            | {str(a.administered_id) for a in administration}
            | {str(w) for w in (work.writer_ids if work else ())}
        )
        parties = [msgspec.convert(doc, Party, strict=False) for doc in await self._run(
            "FOR p IN rights_parties FILTER p._key IN @keys RETURN p", keys=party_ids)]  # fmt: skip
        policies = [msgspec.convert(doc, LicensingPolicy, strict=False) for doc in await self._run(
            """FOR p IN rights_policies FILTER p.party_id IN @keys AND (p.track_id == @track OR p.track_id == null)
               SORT p._key RETURN p""", keys=party_ids, track=str(track_id))]  # fmt: skip
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
        found = await self._run(
            f"""
            FOR r IN rights_recordings
              FILTER r.track_id != null AND r.work_id != null
              FILTER @among == null OR r.track_id IN @among
              LET work = CONCAT("rights_works/", r.work_id)
              FILTER @writer == null OR LENGTH(FOR w IN rights_writes
                  FILTER w._from == CONCAT("rights_parties/", @writer) AND w._to == work LIMIT 1 RETURN 1) > 0
              LET publishing = (FOR e IN rights_control
                  FILTER e._to == work AND {_in_force("e")} AND LENGTH(INTERSECTION(e.countries, @countries)) > 0
                  RETURN e)
              FILTER LENGTH(publishing) > 0
              LET controllers = UNIQUE(FLATTEN(FOR e IN publishing
                  LET chain = (FOR v, a IN 1..{MAX_CHAIN} INBOUND e._from rights_administration
                      OPTIONS {{uniqueVertices: "path"}}
                      PRUNE NOT ((a.subject_id == null OR a.subject_id == r.work_id) AND {_in_force("a")}
                                 AND LENGTH(INTERSECTION(a.countries, @countries)) > 0)
                      FILTER (a.subject_id == null OR a.subject_id == r.work_id) AND {_in_force("a")}
                             AND LENGTH(INTERSECTION(a.countries, @countries)) > 0
                      RETURN v._key)
                  RETURN APPEND([e.party_id], chain)))
              FILTER @publisher == null OR @publisher IN controllers
              LET incomplete = (FOR c IN @countries
                  LET master = SUM(FOR e IN rights_control
                      FILTER e._to == r._id AND c IN e.countries AND {_in_force("e")} RETURN e.share_bp)
                  LET publishing_bp = SUM(FOR e IN publishing FILTER c IN e.countries RETURN e.share_bp)
                  FILTER master != 10000 OR publishing_bp != 10000
                  LIMIT 1 RETURN c)
              FILTER LENGTH(incomplete) == 0
              FILTER LENGTH(FOR l IN rights_licences
                  FILTER l.recording_id == r._key AND l.exclusive AND (@media == null OR l.media == @media)
                     AND {_in_force("l")} AND LENGTH(INTERSECTION(l.countries, @countries)) > 0
                  LIMIT 1 RETURN 1) == 0
              SORT r.track_id
              RETURN r.track_id
            """,
            countries=sorted(countries), on=on.isoformat(), writer=str(writer_id) if writer_id else None,
            publisher=str(publisher_id) if publisher_id else None, media=media.value if media else None,
            among=[str(t) for t in among] if among is not None else None,
        )  # fmt: skip
        return [UUID(t) for t in found]
