"""One behaviour, every backend: what a RightsStore must do, whichever database keeps the graph."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import asyncpg

from rights.imports import ImportBatch
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    GrantedLicence,
    LicensingPolicy,
    Mechanism,
    Party,
    Period,
    Recording,
    Right,
    Work,
)
from rights.store import RightsStore, catalogue
from rights.terms import Media, Money
from rights.territories import TerritoryScope

ALWAYS = Period(start=date(2000, 1, 1))
ON = date(2026, 6, 1)


def scope(*include: str, exclude: tuple[str, ...] = ()) -> TerritoryScope:
    return TerritoryScope(include=include or ("WORLD",), exclude=exclude)


async def new_track(db: asyncpg.Connection, organisation: UUID, title: str = "Harbour Lights") -> UUID:
    track = await catalogue.insert_track(db, owner_organisation_id=organisation, title=title, artist="Test",
                                         description="")  # fmt: skip
    return track.id


class Graph:
    """A small catalogue: writer A co-writes with W2; B publishes A's share; B is sub-published twice."""

    def __init__(self, store: RightsStore) -> None:
        self.store = store
        self.parties = {n: Party(id=uuid4(), name=n, ipi=f"{i:011d}") for i, n in enumerate(
            ["Label", "A", "W2", "B", "Other", "Euro", "Dach", "Berlin", "Stranger"], 1)}  # fmt: skip

    def __getitem__(self, name: str) -> Party:
        return self.parties[name]

    async def song(self, track_id: UUID, *, writers: tuple[str, ...], publishers: dict[str, int],
                   master_bp: int = 10_000) -> tuple[Recording, Work]:  # fmt: skip
        work = Work(id=uuid4(), title="Song", writer_ids=tuple(self[w].id for w in writers))
        recording = Recording(id=uuid4(), title="Song", isrc=f"GB{uuid4().hex[:10].upper()}", work_id=work.id,
                              track_id=track_id)  # fmt: skip
        await self.store.add_work(work)
        await self.store.add_recording(recording)
        await self.store.add_control(ControlEdge(id=uuid4(), party_id=self["Label"].id, subject_id=recording.id,
                                                 right=Right.MASTER, share_bp=master_bp, period=ALWAYS))  # fmt: skip
        for name, bp in publishers.items():
            await self.store.add_control(ControlEdge(id=uuid4(), party_id=self[name].id, subject_id=work.id,
                                                     right=Right.PUBLISHING, share_bp=bp, period=ALWAYS))  # fmt: skip
        return recording, work

    async def build(self) -> None:
        for party in self.parties.values():
            await self.store.add_party(party)
        for admin, administered, where in (
            ("Euro", "B", "EUROPE"),
            ("Dach", "Euro", "DACH"),
            ("Berlin", "Dach", "DE"),
        ):
            await self.store.add_administration(AdministrationEdge(
                id=uuid4(), administrator_id=self[admin].id, administered_id=self[administered].id,
                territories=scope(where), period=ALWAYS))  # fmt: skip
        # An edge that must not leak into other tracks' snapshots.
        await self.store.add_administration(AdministrationEdge(
            id=uuid4(), administrator_id=self["Stranger"].id, administered_id=self["Other"].id, period=ALWAYS))  # fmt: skip


async def test_parties_are_found_by_id_ipi_isni_and_organisation(
    store: RightsStore, organisation: UUID
) -> None:
    party = Party(id=uuid4(), name="Harbour Songs", ipi="00099999999", isni="0000000123456789",
                  organisation_id=organisation)  # fmt: skip
    await store.add_party(party)
    assert await store.get_party(party.id) == party
    assert await store.find_party(ipi="00099999999") == party
    assert await store.find_party(isni="0000000123456789") == party
    assert await store.find_party(ipi="nope") is None
    assert await store.parties_of(organisation) == [party]


async def test_works_and_recordings_round_trip(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    writer = Party(id=uuid4(), name="Ada")
    await store.add_party(writer)
    work = Work(id=uuid4(), title="Song", iswc="T-000.000.001-0", writer_ids=(writer.id,))
    await store.add_work(work)
    track_id = await new_track(db, organisation)
    recording = Recording(id=uuid4(), title="Song", isrc="GBTST2600001", work_id=work.id, track_id=track_id)
    await store.add_recording(recording)
    assert await store.find_work("T-000.000.001-0") == work
    assert await store.find_recording("GBTST2600001") == recording
    assert await store.recording_for_track(track_id) == recording


async def test_track_rights_follow_administration_chains_and_nothing_else(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    graph = Graph(store)
    await graph.build()
    track_id = await new_track(db, organisation)
    recording, work = await graph.song(track_id, writers=("A", "W2"), publishers={"B": 5_000, "W2": 5_000})
    rights = await store.track_rights(track_id)
    assert rights is not None
    assert rights.recording == recording and rights.work == work
    assert {(e.right, rights.party_name(e.party_id), e.share_bp) for e in rights.control} == {
        (Right.MASTER, "Label", 10_000), (Right.PUBLISHING, "B", 5_000), (Right.PUBLISHING, "W2", 5_000)
    }  # fmt: skip
    chain = {
        (rights.party_name(a.administrator_id), rights.party_name(a.administered_id))
        for a in rights.administration
    }
    assert chain == {("Euro", "B"), ("Dach", "Euro"), ("Berlin", "Dach")}
    assert rights.administration[0].territories.countries()
    assert await store.track_rights(uuid4()) is None


async def test_control_edges_can_be_read_and_removed(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    graph = Graph(store)
    await graph.build()
    track_id = await new_track(db, organisation)
    await graph.song(track_id, writers=("A",), publishers={"B": 10_000})
    rights = await store.track_rights(track_id)
    assert rights is not None
    edge = next(e for e in rights.control if e.right is Right.MASTER)
    assert await store.get_control(edge.id) == edge
    await store.remove_control(edge.id)
    assert await store.get_control(edge.id) is None


async def test_policies_replace_per_party_and_track(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    graph = Graph(store)
    await graph.build()
    track_id, other_track = await new_track(db, organisation), await new_track(db, organisation)
    await graph.song(track_id, writers=("A",), publishers={"B": 10_000})
    catalogue_wide = LicensingPolicy(id=uuid4(), party_id=graph["Label"].id, floor=Money(1_000, "EUR"))
    first = await store.put_policy(catalogue_wide)
    replaced = await store.put_policy(
        LicensingPolicy(id=uuid4(), party_id=graph["Label"].id, floor=Money(2_000, "EUR"))
    )
    assert (
        first == catalogue_wide and replaced.id == catalogue_wide.id and replaced.floor == Money(2_000, "EUR")
    )
    specific = await store.put_policy(LicensingPolicy(
        id=uuid4(), party_id=graph["Label"].id, track_id=track_id,
        mechanisms={Media.FILM: (Mechanism.VICKREY,)}, automated_media=frozenset({Media.FILM})))  # fmt: skip
    await store.put_policy(LicensingPolicy(id=uuid4(), party_id=graph["Label"].id, track_id=other_track))
    rights = await store.track_rights(track_id)
    assert rights is not None
    assert sorted(rights.policies, key=lambda p: p.track_id is None) == [specific, replaced]


async def test_licences_appear_in_the_snapshot(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    graph = Graph(store)
    await graph.build()
    track_id = await new_track(db, organisation)
    recording, _ = await graph.song(track_id, writers=("A",), publishers={"B": 10_000})
    licence = GrantedLicence(id=uuid4(), recording_id=recording.id, licensee="Acme", media=Media.TV_ADS,
                             territories=scope("US"), period=Period(start=ON, end=date(2027, 6, 30)), exclusive=True)  # fmt: skip
    await store.add_licence(licence)
    rights = await store.track_rights(track_id)
    assert rights is not None and rights.licences == (licence,)


async def test_graph_query_co_written_by_a_published_by_b_available_in_europe(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    graph = Graph(store)
    await graph.build()
    europe = frozenset(scope("EUROPE").countries())
    wanted = await new_track(db, organisation, "wanted")
    await graph.song(wanted, writers=("A", "W2"), publishers={"B": 5_000, "W2": 5_000})
    not_by_a = await new_track(db, organisation, "not by A")
    await graph.song(not_by_a, writers=("W2",), publishers={"B": 10_000})
    not_b = await new_track(db, organisation, "other publisher")
    await graph.song(not_b, writers=("A",), publishers={"Other": 10_000})
    gap = await new_track(db, organisation, "gap")
    await graph.song(gap, writers=("A",), publishers={"B": 7_500})
    exclusive = await new_track(db, organisation, "exclusive")
    recording, _ = await graph.song(exclusive, writers=("A",), publishers={"B": 10_000})
    await store.add_licence(GrantedLicence(id=uuid4(), recording_id=recording.id, licensee="Acme",
                                           media=Media.ONLINE_ADS, territories=scope("FR"),
                                           period=Period(start=date(2026, 1, 1)), exclusive=True))  # fmt: skip

    found = await store.tracks_in_graph(
        countries=europe, on=ON, writer_id=graph["A"].id, publisher_id=graph["B"].id
    )
    assert found == [wanted]
    # B reaches the track through administration too: Berlin sub-publishes B's share in DE.
    via_chain = await store.tracks_in_graph(
        countries=frozenset({"DE"}), on=ON, publisher_id=graph["Berlin"].id
    )
    assert set(via_chain) == {wanted, not_by_a, exclusive}
    # An exclusive licence blocks only its own medium when a medium is asked for.
    tv = await store.tracks_in_graph(countries=europe, on=ON, writer_id=graph["A"].id, media=Media.TV_ADS)
    assert set(tv) == {wanted, not_b, exclusive}
    among = await store.tracks_in_graph(countries=europe, on=ON, among=[not_b])
    assert among == [not_b]


async def test_batches_are_stored_whole(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    track_id = await new_track(db, organisation)
    owner, admin = Party(id=uuid4(), name="Owner"), Party(id=uuid4(), name="Admin")
    work = Work(id=uuid4(), title="Batch", writer_ids=(owner.id,))
    recording = Recording(id=uuid4(), title="Batch", work_id=work.id, track_id=track_id)
    batch = ImportBatch(
        parties=(owner, admin), works=(work,), recordings=(recording,),
        control=(ControlEdge(id=uuid4(), party_id=owner.id, subject_id=recording.id, right=Right.MASTER,
                             share_bp=10_000, period=ALWAYS),
                 ControlEdge(id=uuid4(), party_id=owner.id, subject_id=work.id, right=Right.PUBLISHING,
                             share_bp=10_000, period=ALWAYS)),
        administration=(AdministrationEdge(id=uuid4(), administrator_id=admin.id, administered_id=owner.id,
                                           subject_id=work.id, territories=scope("DACH"), period=ALWAYS),),
    )  # fmt: skip
    await store.add_batch(batch)
    rights = await store.track_rights(track_id)
    assert rights is not None
    assert len(rights.control) == 2 and rights.administration == batch.administration
    assert rights.work == work


async def test_a_subject_names_the_organisation_that_controls_it(
    store: RightsStore, db: asyncpg.Connection, organisation: UUID
) -> None:
    track = await new_track(db, organisation)
    publisher: UUID = await db.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ('Publisher ' || gen_random_uuid(), 'publisher') RETURNING id"
    )
    work = Work(id=uuid4(), title="Song", organisation_id=publisher)
    recording = Recording(
        id=uuid4(), title="Song", work_id=work.id, track_id=track, organisation_id=organisation
    )
    await store.add_work(work)
    await store.add_recording(recording)
    found_recording, found_work = await store.subject(recording.id), await store.subject(work.id)
    assert found_recording is not None and found_work is not None
    assert (found_recording.kind, found_recording.organisation_id) == (Right.MASTER, organisation)
    assert (found_work.kind, found_work.organisation_id) == (Right.PUBLISHING, publisher)
    assert await store.subject(uuid4()) is None
    assert await store.tracks_of(work.id) == await store.tracks_of(recording.id) == [track]
