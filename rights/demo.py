"""Demo rights: the demo organisations' parties and policies, and splits for every demo track that exists.

Safe to run again: parties are found by IPI, and a track that already has a recording is left alone,
so running it after the discovery seeder has added tracks fills in just those.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from rights import service
from rights.identity import Principal
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    LicensingPolicy,
    Mechanism,
    Party,
    PartyKind,
    Period,
    Recording,
    Right,
    Track,
    Work,
)
from rights.store import RightsStore, open_store
from rights.terms import Media, Money, RateCard, Usage
from rights.territories import TerritoryScope

SINCE = Period(start=date(2020, 1, 1))
AUCTIONS = (Mechanism.FIXED_PRICE, Mechanism.SEALED_FIRST_PRICE, Mechanism.VICKREY, Mechanism.DESCENDING_CLOCK,
            Mechanism.NEGOTIATION)  # fmt: skip

# key: (name, kind, IPI, demo organisation that manages it or None)
PARTIES: dict[str, tuple[str, PartyKind, str, str | None]] = {
    "label": ("Northern Lights Records", PartyKind.ORGANISATION, "00900000001", "label"),
    "publisher": ("Harbour Songs Publishing", PartyKind.ORGANISATION, "00900000002", "publisher"),
    "mara": ("Mara Quinn", PartyKind.PERSON, "00900000003", None),
    "jonas": ("Jonas Feld", PartyKind.PERSON, "00900000004", None),
    "continental": ("Continental Songs", PartyKind.ORGANISATION, "00900000005", None),
    "alpen": ("Alpen Musikverlag", PartyKind.ORGANISATION, "00900000006", None),
    "spree": ("Spree Edition Berlin", PartyKind.ORGANISATION, "00900000007", None),
}
# Harbour Songs is sub-published in Europe, which sub-publishes in DACH, which sub-publishes in Germany.
CHAIN = {"continental": ("publisher", "EUROPE"), "alpen": ("continental", "DACH"), "spree": ("alpen", "DE")}


def _card(base: int, media: dict[Media, int]) -> RateCard:
    return RateCard(base=Money(base, "EUR"), media_bp=media, territory_bp={"WORLD": 40_000, "EUROPE": 20_000},
                    term_bp={12: 10_000, 24: 17_500, 36: 24_000})  # fmt: skip


def _policies(parties: dict[str, Party]) -> list[LicensingPolicy]:
    everything = {m: 10_000 for m in Media} | {
        Media.TV_ADS: 30_000,
        Media.FILM: 25_000,
        Media.TRAILER: 20_000,
    }
    online = frozenset({Media.ONLINE_ADS, Media.SOCIAL, Media.GAMES, Media.CORPORATE})
    return [
        LicensingPolicy(id=uuid4(), party_id=parties["label"].id, mechanisms={m: AUCTIONS for m in Media},
                        rate_card=_card(150_000, everything), floor=Money(50_000, "EUR"),
                        ceiling=Money(5_000_000, "EUR"), auto_accept=Money(400_000, "EUR"),
                        negotiation_window_hours=48, automated_media=online | {Media.TV_ADS, Media.FILM}),
        LicensingPolicy(id=uuid4(), party_id=parties["publisher"].id, mechanisms={m: AUCTIONS for m in online},
                        rate_card=_card(120_000, everything), floor=Money(40_000, "EUR"),
                        negotiation_window_hours=72, automated_media=online),
        LicensingPolicy(id=uuid4(), party_id=parties["spree"].id,
                        mechanisms={Media.ONLINE_ADS: AUCTIONS, Media.SOCIAL: AUCTIONS},
                        rate_card=_card(90_000, everything), automated_media=frozenset({Media.ONLINE_ADS})),
    ]  # fmt: skip


def demo_isrc(track_id: UUID) -> str:
    """A well-formed ISRC (country, registrant, year, designation) drawn from the track id, so licences,
    agreements and statements of demo deals carry one; the id's spread keeps them unique."""
    digits = track_id.int
    registrant = "".join(_ALPHANUMERIC[(digits >> (6 * i)) % 36] for i in range(3))
    return f"ZZ{registrant}26{(digits >> 18) % 100_000:05d}"


def demo_iswc(track_id: UUID) -> str:
    """A well-formed ISWC (T, nine digits, check digit) drawn from the track id."""
    number = f"{(track_id.int >> 40) % 1_000_000_000:09d}"
    check = (10 - (1 + sum(weight * int(d) for weight, d in enumerate(number, start=1))) % 10) % 10
    return f"T-{number[:3]}.{number[3:6]}.{number[6:]}-{check}"


_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


async def _parties(store: RightsStore, organisations: dict[str, UUID]) -> tuple[dict[str, Party], set[UUID]]:
    """The demo parties, created with their administration chain when missing; also which were new."""
    parties: dict[str, Party] = {}
    created: set[UUID] = set()
    for key, (name, kind, ipi, organisation) in PARTIES.items():
        found = await store.find_party(ipi=ipi)
        if found is None:
            found = Party(id=uuid4(), name=name, kind=kind, ipi=ipi,
                          organisation_id=organisations.get(organisation) if organisation else None)  # fmt: skip
            await store.add_party(found)
            created.add(found.id)
            if key in CHAIN:
                administered, where = CHAIN[key]
                await store.add_administration(AdministrationEdge(
                    id=uuid4(), administrator_id=found.id, administered_id=parties[administered].id,
                    territories=TerritoryScope(include=(where,)), period=SINCE))  # fmt: skip
        parties[key] = found
    return parties, created


async def _rights_for(conn: asyncpg.Connection, store: RightsStore, parties: dict[str, Party], index: int,
                      track: Track) -> None:  # fmt: skip
    """Every third track is complete, every third has a gap in DE, every third an exclusive US licence.

    The track's owner controls the recording; Harbour Songs Publishing controls the work."""
    track_id, title = track.id, track.title
    work = Work(id=uuid4(), title=title, iswc=demo_iswc(track_id),
                writer_ids=(parties["mara"].id, parties["jonas"].id),
                organisation_id=parties["publisher"].organisation_id or track.owner_organisation_id)  # fmt: skip
    recording = Recording(id=uuid4(), title=title, isrc=demo_isrc(track_id), work_id=work.id, track_id=track_id,
                          organisation_id=track.owner_organisation_id)  # fmt: skip
    await store.add_work(work)
    await store.add_recording(recording)

    def share(party: str, subject: UUID, right: Right, bp: int, scope: TerritoryScope) -> ControlEdge:
        return ControlEdge(id=uuid4(), party_id=parties[party].id, subject_id=subject, right=right, share_bp=bp,
                           territories=scope, period=SINCE)  # fmt: skip

    world = TerritoryScope()
    await store.add_control(share("label", recording.id, Right.MASTER, 10_000, world))
    if index % 3 == 1:
        await store.add_control(share("publisher", work.id, Right.PUBLISHING, 7_500, world))
        await store.add_control(
            share("jonas", work.id, Right.PUBLISHING, 2_500, TerritoryScope(exclude=("DE",)))
        )
    else:
        await store.add_control(share("publisher", work.id, Right.PUBLISHING, 10_000, world))
    if index % 3 == 2:
        await service.record_licence(conn, track_id, licensee="Brightside Agency", usage=Usage(
            media=Media.ONLINE_ADS, territories=("US",), term_months=24, exclusive=True, start=date(2025, 7, 1)))  # fmt: skip


async def seed(conn: asyncpg.Connection, organisations: dict[str, UUID], data_dir: Path) -> None:
    store = open_store(conn)
    async with conn.transaction():
        parties, created = await _parties(store, organisations)
        # Policies only for parties made just now, so a rerun never undoes a rights holder's edits.
        for policy in _policies(parties):
            if policy.party_id in created:
                await store.put_policy(policy)
        tracks = [
            track
            for organisation in organisations.values()
            for track in await service.list_tracks(conn, owner_organisation_id=organisation, limit=10_000)
        ]
        for index, track in enumerate(sorted(tracks, key=lambda t: (t.created_at, t.title, t.id))):
            if await store.recording_for_track(track.id) is None:
                await _rights_for(conn, store, parties, index, track)


async def sole_owner(conn: asyncpg.Connection, owner: Principal, track_id: UUID) -> None:
    """Make the track's owner hold all of its master and publishing everywhere, opted in to every mechanism
    for every medium: a track clearable now for any usage (for demos, benchmarks and tests of sales)."""
    async with conn.transaction():
        party = await service.create_party(conn, owner, name=f"{owner.display_name} rights")
        for right in Right:
            await service.add_share(conn, owner, track_id, party_id=party.id, right=right, share_bp=10_000,
                                    territories=TerritoryScope(), period=SINCE)  # fmt: skip
        everything = tuple(Mechanism)
        await service.set_policy(conn, owner, LicensingPolicy(
            id=uuid4(), party_id=party.id, track_id=track_id, mechanisms={m: everything for m in Media},
            automated_media=frozenset(Media)))  # fmt: skip
