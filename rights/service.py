"""Rights use cases: the catalogue, parties, shares, administration, policies, imports, ownership, clearance.

Each function takes the caller's connection and opens its own transaction (nested calls become
savepoints). Organisation checks live here: a rights holder changes only parties its organisation
manages, and an admin may act for any.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import date, datetime
from uuid import UUID, uuid4

import asyncpg
import msgspec

from rights import clearance as clearing
from rights.audit import append_audit
from rights.clearance import Clearance, Outcome, Ownership
from rights.identity import Principal
from rights.imports import ImportBatch, ImportFailed
from rights.imports.cwr import render_cwr
from rights.imports.split_sheet import parse_split_sheet
from rights.model import (
    AdministrationEdge,
    ClaimStatus,
    ControlEdge,
    DisputedClaim,
    GrantedLicence,
    LicenceRequest,
    LicensingPolicy,
    Party,
    PartyKind,
    Period,
    Recording,
    Right,
    Subject,
    Track,
    TrackRights,
    Work,
)
from rights.splits import over_full
from rights.store import RightsStore, catalogue, ingestion, open_store
from rights.store import claims as claim_store
from rights.store import requests as request_store
from rights.terms import Media, Usage
from rights.territories import TerritoryScope, resolve


class NotFound(LookupError):
    """A track, party or share that does not exist (404)."""


class Forbidden(PermissionError):
    """The caller's organisation does not manage this party or track (403)."""


class SplitConflict(ValueError):
    """The change would make the claims on a side add up to more than 100 % somewhere (409)."""

    status_code = 409


class ShareChange(msgspec.Struct, frozen=True, kw_only=True):
    """A stored share and the gaps that remain on the track afterwards."""

    share: ControlEdge
    gaps: tuple[str, ...]


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import changed, counted from what was stored (not from what the file holds)."""

    parties_created: int
    parties_matched: int  # known already, by an identifier (or, without one, by name in your organisation)
    works_created: int = 0
    works_matched: int = 0
    recordings_created: int = 0
    recordings_updated: int = 0  # matched by ISRC or your own id, and changed
    recordings_matched: int = 0  # matched and unchanged
    releases_created: int = 0
    releases_updated: int = 0
    shares: int = 0  # shares written
    shares_replaced: int = 0  # stored shares of the same right, territories and period they replaced
    unknown_shares: int = 0  # delivered as unknown: gaps for clearance
    administration: int = 0
    disputed_claims: int = 0  # shares claimed on other organisations' recordings or works, awaiting them
    warnings: tuple[str, ...]


# The catalogue


async def create_track(
    conn: asyncpg.Connection, *, owner_organisation_id: UUID, title: str, artist: str, description: str = ""
) -> Track:
    """Add a track to the catalogue, owned by an organisation."""
    if not title.strip() or not artist.strip():
        raise ValueError("a track needs a title and an artist")
    async with conn.transaction():
        track = await catalogue.insert_track(
            conn, owner_organisation_id=owner_organisation_id, title=title.strip(), artist=artist.strip(),
            description=description,
        )  # fmt: skip
        await append_audit(
            conn, "rights", track.id, "track_created", {"title": track.title, "artist": track.artist}, None
        )
    return track


async def get_track(conn: asyncpg.Connection, track_id: UUID) -> Track:
    found = await catalogue.track(conn, track_id)
    if found is None:
        raise NotFound(f"no track {track_id}")
    return found


async def list_tracks(
    conn: asyncpg.Connection, *, owner_organisation_id: UUID | None = None, ids: Collection[UUID] | None = None,
    limit: int = 100, offset: int = 0,
) -> list[Track]:  # fmt: skip
    return await catalogue.tracks(
        conn, ids=ids, owner_organisation_id=owner_organisation_id, limit=limit, offset=offset
    )


# Parties


async def create_party(
    conn: asyncpg.Connection, caller: Principal, *, name: str, kind: PartyKind = PartyKind.ORGANISATION,
    ipi: str | None = None, isni: str | None = None,
) -> Party:  # fmt: skip
    """A party the caller's organisation manages (its label, its writers, its publishing company)."""
    party = Party(id=uuid4(), name=name.strip(), kind=kind, ipi=ipi or None, isni=isni or None,
                  organisation_id=caller.organisation_id)  # fmt: skip
    store = open_store(conn)
    async with conn.transaction():
        for value, label in ((party.ipi, "IPI"), (party.isni, "ISNI")):
            if value and await store.find_party(ipi=value if label == "IPI" else None,
                                                isni=value if label == "ISNI" else None):  # fmt: skip
                raise SplitConflict(f"a party with {label} {value} already exists")
        await store.add_party(party)
        await append_audit(conn, "rights", party.id, "party_created", party, caller.user_id)
    return party


async def parties_of(conn: asyncpg.Connection, caller: Principal) -> list[Party]:
    return await open_store(conn).parties_of(caller.organisation_id)


async def _own_party(store: RightsStore, caller: Principal, party_id: UUID) -> Party:
    party = await store.get_party(party_id)
    if party is None:
        raise NotFound(f"no party {party_id}")
    if party.organisation_id is None or not caller.acts_for(party.organisation_id):
        raise Forbidden(f"{party.name} is not managed by your organisation")
    return party


# The ownership rule: every write to a track, recording or work goes through require_control.


async def _subject(store: RightsStore, subject_id: UUID) -> Subject:
    subject = await store.subject(subject_id)
    if subject is None:
        raise NotFound(f"no recording or work {subject_id}")
    return subject


def _controls(caller: Principal, organisation_id: UUID | None) -> bool:
    return organisation_id is not None and caller.acts_for(organisation_id)


async def require_control(
    conn: asyncpg.Connection,
    caller: Principal,
    *,
    track_id: UUID | None = None,
    subject_id: UUID | None = None,
) -> None:
    """Refuse (403) unless the caller's organisation controls the track, or the recording or work `subject_id`.

    A track is controlled by its owner, a recording by its track's owner, a work by the organisation that
    registered it. One rule for the API, the split-sheet and the DDEX imports and accepted claims.
    """
    if track_id is not None:
        track = await get_track(conn, track_id)
        if not _controls(caller, track.owner_organisation_id):
            raise Forbidden(
                f"the track {track.title!r} belongs to another organisation; only it can change it"
            )
    if subject_id is not None:
        subject = await _subject(open_store(conn), subject_id)
        if not _controls(caller, subject.organisation_id):
            raise Forbidden(
                f"the {subject.describe()} is controlled by another organisation; only it can change it"
            )


# Shares, administration and licences


async def _recording_of(
    conn: asyncpg.Connection, store: RightsStore, track_id: UUID, *, with_work: bool
) -> Recording:
    """The track's recording, created on first use with a work of the same title (every song has one),
    both controlled by the track's owner."""
    track = await get_track(conn, track_id)
    recording = await store.recording_for_track(track_id)
    if recording is None:
        owner = track.owner_organisation_id
        work = Work(id=uuid4(), title=track.title, organisation_id=owner)
        await store.add_work(work)
        recording = Recording(id=uuid4(), title=track.title, track_id=track_id, work_id=work.id,
                              organisation_id=owner)  # fmt: skip
        await store.add_recording(recording)
    elif with_work and recording.work_id is None:
        raise ValueError(
            f"the recording of {track.title!r} is linked to no work; import its split sheet first"
        )
    return recording


def _refuse_overlaps(rights: TrackRights, period: Period) -> tuple[str, ...]:
    problems = clearing.split_problems(rights, period)
    overlaps = [p.message for p in problems if p.kind != "gap"]
    if overlaps:
        raise SplitConflict("; ".join(overlaps))
    return tuple(p.message for p in problems)


async def add_share(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, *, party_id: UUID, right: Right, share_bp: int,
    territories: TerritoryScope, period: Period,
) -> ShareChange:  # fmt: skip
    """Record that one of the caller's parties holds a share of the master or publishing of a track the
    caller's organisation controls (that side of it)."""
    store = open_store(conn)
    async with conn.transaction():
        party = await _own_party(store, caller, party_id)
        subject = await _side_of(conn, store, caller, track_id, right)
        edge = ControlEdge(id=uuid4(), party_id=party.id, subject_id=subject, right=right, share_bp=share_bp,
                           territories=territories, period=period)  # fmt: skip
        gaps = await _write_share(store, edge)
        await append_audit(conn, "rights", track_id, "share_added", edge, caller.user_id)
    return ShareChange(share=edge, gaps=gaps)


async def _side_of(
    conn: asyncpg.Connection, store: RightsStore, caller: Principal, track_id: UUID, right: Right
) -> UUID:
    """The recording (master) or work (publishing) of the track, once the caller is known to control it."""
    recording = await store.recording_for_track(track_id)
    if recording is None:
        await require_control(conn, caller, track_id=track_id)  # creating the recording writes the track
    recording = await _recording_of(conn, store, track_id, with_work=right is Right.PUBLISHING)
    subject = recording.id if right is Right.MASTER else recording.work_id
    assert subject is not None
    await require_control(conn, caller, subject_id=subject)
    return subject


async def _write_share(store: RightsStore, edge: ControlEdge) -> tuple[str, ...]:
    """Store the share, refusing it (409) when the claims on its side would pass 100 % anywhere on any of
    the side's tracks; the gaps that remain."""
    await store.add_control(edge)
    gaps: list[str] = []
    for track_id in await store.tracks_of(edge.subject_id):
        rights = await store.track_rights(track_id)
        assert rights is not None
        gaps.extend(gap for gap in _refuse_overlaps(rights, edge.period) if gap not in gaps)
    return tuple(gaps)


async def remove_share(conn: asyncpg.Connection, caller: Principal, share_id: UUID) -> None:
    store = open_store(conn)
    async with conn.transaction():
        edge = await store.get_control(share_id)
        if edge is None:
            raise NotFound(f"no share {share_id}")
        await require_control(conn, caller, subject_id=edge.subject_id)
        await store.remove_control(share_id)
        await append_audit(conn, "rights", share_id, "share_removed", edge, caller.user_id)


async def add_administration(
    conn: asyncpg.Connection, caller: Principal, *, administrator_id: UUID, administered_id: UUID,
    territories: TerritoryScope, period: Period, track_id: UUID | None = None, right: Right | None = None,
) -> AdministrationEdge:  # fmt: skip
    """One of the caller's parties hands the administration of its shares (of one track's side, or all) to another."""
    store = open_store(conn)
    async with conn.transaction():
        await _own_party(store, caller, administered_id)
        if await store.get_party(administrator_id) is None:
            raise NotFound(f"no party {administrator_id}")
        subject_id = None
        if track_id is not None:
            if right is None:
                raise ValueError("say which side (master or publishing) of the track is administered")
            subject_id = await _side_of(conn, store, caller, track_id, right)
        edge = AdministrationEdge(id=uuid4(), administrator_id=administrator_id, administered_id=administered_id,
                                  subject_id=subject_id, territories=territories, period=period)  # fmt: skip
        await store.add_administration(edge)
        await append_audit(conn, "rights", administered_id, "administration_added", edge, caller.user_id)
    return edge


async def record_licence(
    conn: asyncpg.Connection, track_id: UUID, *, licensee: str, usage: Usage, actor_id: UUID | None = None
) -> GrantedLicence:
    """Note a licence granted on the track (by a deal), so later clearances see it."""
    store = open_store(conn)
    async with conn.transaction():
        recording = await _recording_of(conn, store, track_id, with_work=False)
        licence = GrantedLicence(
            id=uuid4(), recording_id=recording.id, licensee=licensee, media=usage.media,
            territories=TerritoryScope(include=usage.territories),
            period=Period.for_term(usage.start, usage.term_months), exclusive=usage.exclusive,
        )  # fmt: skip
        await store.add_licence(licence)
        await append_audit(conn, "rights", track_id, "licence_recorded", licence, actor_id)
    return licence


# Policies


async def set_policy(conn: asyncpg.Connection, caller: Principal, policy: LicensingPolicy) -> LicensingPolicy:
    """Set one of the caller's parties' policy for a track or, with no track, for its whole catalogue."""
    store = open_store(conn)
    async with conn.transaction():
        await _own_party(store, caller, policy.party_id)
        if policy.track_id is not None:
            await _require_control_of_a_side(conn, store, caller, policy.track_id)
        stored = await store.put_policy(policy)
        await append_audit(conn, "rights", policy.party_id, "policy_set", stored, caller.user_id)
    return stored


async def _require_control_of_a_side(
    conn: asyncpg.Connection, store: RightsStore, caller: Principal, track_id: UUID
) -> None:
    """A track's policy is set by the organisation controlling the track or its publishing side."""
    recording = await store.recording_for_track(track_id)
    if recording is not None and recording.work_id is not None:
        work = await _subject(store, recording.work_id)
        if _controls(caller, work.organisation_id):
            return
    await require_control(conn, caller, track_id=track_id)


# Reading the graph


async def track_rights(conn: asyncpg.Connection, track_id: UUID) -> TrackRights:
    """Everything known about the track's rights (empty when nothing is recorded yet)."""
    await get_track(conn, track_id)
    rights = await open_store(conn).track_rights(track_id)
    return rights or TrackRights(track_id=track_id, recording=None, work=None, parties={})


async def ownership_picture(
    conn: asyncpg.Connection, track_id: UUID, *, territories: tuple[str, ...] = ("WORLD",), on: date
) -> Ownership:
    """Each side's owners and controllers per territory on a day, with every gap and overlap."""
    rights = await track_rights(conn, track_id)
    return clearing.ownership(rights, resolve(territories), Period(start=on, end=on))


async def clearance(conn: asyncpg.Connection, track_id: UUID, usage: Usage) -> Clearance:
    """Can the track be licensed for this usage now, how, and at what price; or why not."""
    return clearing.clear(await track_rights(conn, track_id), usage)


async def graph_tracks(
    conn: asyncpg.Connection, *, territories: tuple[str, ...], on: date, writer_id: UUID | None = None,
    publisher_id: UUID | None = None, media: Media | None = None, limit: int = 100,
) -> list[Track]:  # fmt: skip
    """Tracks co-written by `writer_id` and published or administered by `publisher_id`, available in the territories."""
    ids = await open_store(conn).tracks_in_graph(
        countries=resolve(territories), on=on, writer_id=writer_id, publisher_id=publisher_id, media=media
    )
    return await list_tracks(conn, ids=ids, limit=limit)


async def clearable_track_ids(
    conn: asyncpg.Connection, usage: Usage, among: Collection[UUID] | None = None
) -> set[UUID]:
    """The tracks (of `among`, or of the whole catalogue) that are clearable now for the usage.

    The graph query drops tracks with incomplete splits or an exclusive licence on the first day;
    full clearance then runs on what remains. Pass `among` (say, search hits) on a big catalogue.
    """
    store = open_store(conn)
    candidates = await store.tracks_in_graph(
        countries=resolve(usage.territories), on=usage.start, media=usage.media, among=among
    )
    clearable = set()
    for track_id in candidates:
        rights = await store.track_rights(track_id)
        if rights is not None and clearing.clear(rights, usage).outcome is Outcome.CLEARABLE_NOW:
            clearable.add(track_id)
    return clearable


# Imports


async def import_split_sheet(conn: asyncpg.Connection, caller: Principal, text: str) -> ImportReport:
    """Import a CSV split sheet in one transaction: all of it, or nothing."""
    return await _import(conn, caller, parse_split_sheet(text), source="split_sheet")


async def import_ern(conn: asyncpg.Connection, caller: Principal, message: ImportBatch) -> ImportReport:
    """Import a parsed DDEX ERN 4 NewReleaseMessage (`rights.imports.ddex.parse_ern`, which is slow
    enough on large files to run off the event loop) in one transaction: all of it, or nothing."""
    return await _import(conn, caller, message, source="ddex")


async def import_cwr(conn: asyncpg.Connection, caller: Principal, batch: ImportBatch) -> ImportReport:
    """Import a parsed CWR 2.1/2.2 registration file (`rights.imports.cwr.parse_cwr`, run off the event
    loop) in one transaction: all of it, or nothing."""
    return await _import(conn, caller, batch, source="cwr")


async def export_cwr(conn: asyncpg.Connection, caller: Principal, now: datetime) -> str:
    """The organisation's works, their publishers' chains and writers, as a CWR 2.1 file for its societies."""
    held = await ingestion.works_of(
        conn, caller.organisation_id, iswc=None, title=None, limit=1_000_000, offset=0
    )
    ids = [w.id for w in held]
    control = await ingestion.shares_of(conn, ids)
    administration = await ingestion.administration_of(conn, ids)
    party_ids = {e.party_id for e in control} | {a.administrator_id for a in administration}
    return render_cwr(
        sender_name=await ingestion.organisation_name(conn, caller.organisation_id),
        sender_id=caller.organisation_id.hex[:9].upper(), works=held,
        parties=await ingestion.parties_by_id(conn, sorted(party_ids | {w for x in held for w in x.writer_ids})),
        control=control, administration=administration, now=now,
    )  # fmt: skip


@dataclasses.dataclass
class _Resolution:
    """Ids in the file mapped to the ids of records already stored (matched by IPI, ISNI, ISWC, ISRC)."""

    ids: dict[UUID, UUID] = dataclasses.field(default_factory=dict)

    def __call__(self, value: UUID) -> UUID:
        return self.ids.get(value, value)


async def _import(
    conn: asyncpg.Connection, caller: Principal, batch: ImportBatch, *, source: str
) -> ImportReport:
    """Store what the file says about the caller's catalogue; what it says about recordings or works another
    organisation controls (matched by ISRC or ISWC) becomes disputed claims that organisation decides on.

    A re-delivery updates in place: parties are matched by any identifier (or, without IPI or ISNI, by name
    among the organisation's own), recordings by ISRC, the sender's own id, or title and artist when they
    have neither; works by ISWC (or title among the organisation's own without one); a share replaces the
    stored ones of the same side, right, territories and period. Any side over 100 % refuses the file.
    Look-ups and writes go in bulk, so a file costs a few round trips, not a few per record."""
    store = open_store(conn)
    organisation = caller.organisation_id
    errors: list[str] = []
    warnings = list(batch.warnings)
    known = _Resolution()
    async with conn.transaction():
        new_parties = await _match_parties(conn, caller, batch.parties, known)
        by_iswc = await ingestion.works_by_iswc(conn, [w.iswc for w in batch.works if w.iswc])
        by_title = await ingestion.works_by_title(
            conn, organisation, [w.title for w in batch.works if not w.iswc]
        )
        new_works = []
        for work in batch.works:
            found_work = by_iswc.get(work.iswc) if work.iswc else by_title.get(work.title)
            if found_work:
                known.ids[work.id] = found_work
            else:
                new_works.append(msgspec.structs.replace(
                    work, writer_ids=tuple(map(known, work.writer_ids)), organisation_id=organisation))  # fmt: skip
        by_isrc, by_own_id, by_name = await ingestion.recordings_matching(
            conn, organisation, isrcs=[r.isrc for r in batch.recordings if r.isrc],
            proprietary_ids=[r.proprietary_id for r in batch.recordings if r.proprietary_id and not r.isrc],
            titles=[r.title for r in batch.recordings if not r.isrc and not r.proprietary_id],
        )  # fmt: skip
        matched: dict[UUID, tuple[Recording, Recording]] = {}  # stored id: (stored, delivered)
        for recording in batch.recordings:
            if recording.isrc:
                found_recording = by_isrc.get(recording.isrc)
            elif recording.proprietary_id:
                found_recording = by_own_id.get(recording.proprietary_id)
            else:
                found_recording = by_name.get((recording.title, recording.artist))
            if found_recording:
                known.ids[recording.id] = found_recording.id
                matched[found_recording.id] = (found_recording, recording)
        stored = await ingestion.subjects(
            conn, [*matched, *(known(w.id) for w in batch.works if w.id in known.ids)]
        )
        foreign = {
            i: subject for i, subject in stored.items() if not _controls(caller, subject.organisation_id)
        }
        changed: list[Recording] = []
        tracks_touched: set[UUID] = set()
        for stored_recording, delivered in matched.values():
            if stored_recording.id in foreign:
                continue
            if stored_recording.track_id:
                tracks_touched.add(stored_recording.track_id)
            update = msgspec.structs.replace(
                stored_recording, title=delivered.title, artist=delivered.artist,
                duration_seconds=delivered.duration_seconds,
                work_id=known(delivered.work_id) if delivered.work_id else stored_recording.work_id,
                proprietary_id=delivered.proprietary_id or stored_recording.proprietary_id,
            )  # fmt: skip
            if update != stored_recording:
                changed.append(update)
        new_recordings = []
        for recording in batch.recordings:
            if recording.id in known.ids:
                continue
            owner = organisation
            if recording.track_id:
                track = await catalogue.track(conn, recording.track_id)
                if track is None:
                    errors.append(f"recording {recording.title!r}: no track {recording.track_id}")
                    continue
                if not caller.acts_for(track.owner_organisation_id):
                    errors.append(
                        f"recording {recording.title!r}: track {track.id} belongs to another organisation"
                    )
                    continue
                existing = await store.recording_for_track(track.id)
                if existing is not None:  # a track has one recording: name it by its ISRC to add to it
                    errors.append(
                        f"recording {recording.title!r}: track {track.id} already has a recording"
                        + (f" with ISRC {existing.isrc}: name that ISRC instead of the track" if existing.isrc
                           else " without an ISRC: enter its shares on the track's owners and splits page")
                    )  # fmt: skip
                    continue
                owner = track.owner_organisation_id
                tracks_touched.add(track.id)
            work_id = known(recording.work_id) if recording.work_id else None
            new_recordings.append(msgspec.structs.replace(recording, work_id=work_id, organisation_id=owner))
        awaiting_audio = sum(1 for r in new_recordings if r.track_id is None)
        if awaiting_audio:
            warnings.append(
                f"{awaiting_audio} recordings are not linked to a catalogue track: they await audio"
            )
        control, claims = _shares_and_claims(batch, known, foreign, caller, source, errors)
        administration = _allowed_administration(batch, known, foreign, errors)
        unknown = [
            msgspec.structs.replace(u, party_id=known(u.party_id), subject_id=known(u.subject_id))
            for u in batch.unknown_shares if known(u.subject_id) not in foreign
        ]  # fmt: skip
        if errors:
            raise ImportFailed(errors)
        await ingestion.remove_same_administration(conn, administration)
        replaced = await ingestion.replace_shares(conn, control)
        await store.add_batch(
            ImportBatch(parties=tuple(new_parties), works=tuple(new_works), recordings=tuple(new_recordings),
                        control=tuple(control), administration=tuple(administration))
        )  # fmt: skip
        await ingestion.update_recordings(conn, changed)
        await ingestion.put_unknown_shares(conn, unknown)
        releases = [msgspec.structs.replace(r, recording_ids=tuple(map(known, r.recording_ids)))
                    for r in batch.releases]  # fmt: skip
        releases_created = await ingestion.put_releases(conn, organisation, releases)
        await claim_store.insert_claims(conn, claims)
        await _refuse_over_full(conn, {e.subject_id for e in control})
        for track_id in sorted(tracks_touched):
            rights = await store.track_rights(track_id)
            assert rights is not None
            try:
                if rights.control:
                    _refuse_overlaps(rights, Period(start=min(e.period.start for e in rights.control)))
            except SplitConflict as conflict:
                raise SplitConflict(
                    f"the import contradicts the shares already recorded: {conflict}"
                ) from None
        own_matched = sum(1 for i in matched if i not in foreign)
        report = ImportReport(
            parties_created=len(new_parties), parties_matched=len(batch.parties) - len(new_parties),
            works_created=len(new_works), works_matched=len(batch.works) - len(new_works),
            recordings_created=len(new_recordings), recordings_updated=len(changed),
            recordings_matched=own_matched - len(changed), releases_created=releases_created,
            releases_updated=len(releases) - releases_created, shares=len(control), shares_replaced=replaced,
            unknown_shares=len(unknown), administration=len(administration), disputed_claims=len(claims),
            warnings=tuple(warnings),
        )  # fmt: skip
        await ingestion.record_import(conn, uuid4(), organisation, caller.user_id, source, report)
        await append_audit(conn, "rights", organisation, "rights_imported", report, caller.user_id)
    return report


async def _match_parties(
    conn: asyncpg.Connection, caller: Principal, parties: Collection[Party], known: _Resolution
) -> list[Party]:
    """The file's parties not stored yet (now the caller's organisation's); the others mapped in `known`."""
    by_identifier = await ingestion.parties_by_identifier(
        conn, sorted({i for p in parties for i in (*p.identifiers, *_legacy_ids(p))})
    )
    by_name = await ingestion.parties_by_name(
        conn, caller.organisation_id, sorted({p.name for p in parties if not p.ipi and not p.isni})
    )
    new_parties = []
    for party in parties:
        found = next((by_identifier[i] for i in (*party.identifiers, *_legacy_ids(party)) if i in by_identifier),
                     None)  # fmt: skip
        if found is None and not party.ipi and not party.isni:
            found = by_name.get(party.name)
        if found:
            known.ids[party.id] = found.id
        else:
            new_parties.append(msgspec.structs.replace(party, organisation_id=caller.organisation_id))
    return new_parties


def _legacy_ids(party: Party) -> tuple[str, ...]:
    return (*([f"IPI:{party.ipi}"] if party.ipi else []), *([f"ISNI:{party.isni}"] if party.isni else []))


async def _refuse_over_full(conn: asyncpg.Connection, subject_ids: Collection[UUID]) -> None:
    """Refuse (409) when the shares now stored on any of these sides pass 100 % anywhere on any day."""
    if not subject_ids:
        return
    titles = {
        i: subject.title for i, subject in (await ingestion.subjects(conn, sorted(subject_ids))).items()
    }
    if problems := over_full(await ingestion.shares_of(conn, sorted(subject_ids)), titles):
        raise SplitConflict("; ".join(problems))


def _shares_and_claims(
    batch: ImportBatch, known: _Resolution, foreign: dict[UUID, Subject], caller: Principal, source: str,
    errors: list[str],
) -> tuple[list[ControlEdge], list[DisputedClaim]]:  # fmt: skip
    """The file's shares on what the caller controls, and its claims on what other organisations control."""
    names = {p.id: p.name for p in batch.parties}
    control: list[ControlEdge] = []
    claims: list[DisputedClaim] = []
    for e in batch.control:
        edge = msgspec.structs.replace(e, party_id=known(e.party_id), subject_id=known(e.subject_id))
        claimed = foreign.get(edge.subject_id)
        if claimed is None:
            control.append(edge)
        elif claimed.organisation_id is None:
            errors.append(f"the {claimed.describe()} is controlled by no organisation yet: ask the platform")
        else:
            claims.append(DisputedClaim(
                id=uuid4(), claimant_organisation_id=caller.organisation_id,
                controller_organisation_id=claimed.organisation_id, subject_id=claimed.id,
                subject_title=claimed.title, share=edge, party_name=names[e.party_id], source=source,
            ))  # fmt: skip
    return control, claims


def _allowed_administration(
    batch: ImportBatch, known: _Resolution, foreign: dict[UUID, Subject], errors: list[str]
) -> list[AdministrationEdge]:
    """The file's administration edges, none of them over another organisation's recordings or works
    (imports only write administration of one recording or work, never of a party's whole catalogue)."""
    administration = []
    for a in batch.administration:
        edge = msgspec.structs.replace(
            a, administrator_id=known(a.administrator_id), administered_id=known(a.administered_id),
            subject_id=known(a.subject_id) if a.subject_id else None,
        )  # fmt: skip
        if edge.subject_id in foreign:
            errors.append(f"the administration of the {foreign[edge.subject_id].describe()} is for the "
                          "organisation controlling it to record")  # fmt: skip
        else:
            administration.append(edge)
    return administration


# What an organisation holds, and what it imported


class ImportRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    source: str
    created_at: datetime
    report: ImportReport


class Page(msgspec.Struct, frozen=True, kw_only=True):
    limit: int = 100
    offset: int = 0


FIRST_PAGE = Page()


def _import_record(row: asyncpg.Record) -> ImportRecord:
    return ImportRecord(id=row["id"], source=row["source"], created_at=row["created_at"],
                        report=msgspec.convert(row["report"], ImportReport))  # fmt: skip


async def import_history(
    conn: asyncpg.Connection, caller: Principal, *, source: str | None = None, page: Page = FIRST_PAGE
) -> list[ImportRecord]:
    rows = await ingestion.imports_of(conn, caller.organisation_id, source, page.limit, page.offset)
    return [_import_record(r) for r in rows]


async def import_record(conn: asyncpg.Connection, caller: Principal, import_id: UUID) -> ImportRecord:
    row = await ingestion.import_of(conn, caller.organisation_id, import_id)
    if row is None:
        raise NotFound(f"no import {import_id} by your organisation")
    return _import_record(row)


async def recordings(
    conn: asyncpg.Connection, caller: Principal, *, isrc: str | None = None, title: str | None = None,
    awaiting_audio: bool | None = None, page: Page = FIRST_PAGE,
) -> list[Recording]:  # fmt: skip
    """The organisation's recordings; `awaiting_audio` those not linked to a catalogue track yet."""
    return await ingestion.recordings_of(conn, caller.organisation_id, isrc=isrc, title=title,
                                         awaiting_audio=awaiting_audio, limit=page.limit, offset=page.offset)  # fmt: skip


async def recording(conn: asyncpg.Connection, caller: Principal, recording_id: UUID) -> Recording:
    found = await ingestion.recordings_of(conn, caller.organisation_id, isrc=None, title=None,
                                          awaiting_audio=None, limit=1, offset=0, recording_id=recording_id)  # fmt: skip
    if not found:
        raise NotFound(f"no recording {recording_id} of your organisation")
    return found[0]


async def delete_recording(conn: asyncpg.Connection, caller: Principal, recording_id: UUID) -> None:
    """Remove a recording the caller's organisation controls and that awaits audio, with its shares."""
    async with conn.transaction():
        await require_control(conn, caller, subject_id=recording_id)
        found = await recording(conn, caller, recording_id)
        if found.track_id is not None:
            raise SplitConflict(
                f"the recording {found.title!r} is a catalogue track's; it goes with its track"
            )
        await ingestion.delete_recording(conn, recording_id)
        await append_audit(conn, "rights", recording_id, "recording_deleted", found, caller.user_id)


async def works(
    conn: asyncpg.Connection, caller: Principal, *, iswc: str | None = None, title: str | None = None,
    page: Page = FIRST_PAGE,
) -> list[Work]:  # fmt: skip
    return await ingestion.works_of(conn, caller.organisation_id, iswc=iswc, title=title, limit=page.limit,
                                    offset=page.offset)  # fmt: skip


async def work(conn: asyncpg.Connection, caller: Principal, work_id: UUID) -> Work:
    found = await ingestion.works_of(conn, caller.organisation_id, iswc=None, title=None, limit=1, offset=0,
                                     work_id=work_id)  # fmt: skip
    if not found:
        raise NotFound(f"no work {work_id} of your organisation")
    return found[0]


async def parties(
    conn: asyncpg.Connection, caller: Principal, *, name: str | None = None, kind: PartyKind | None = None,
    identifier: str | None = None, page: Page = FIRST_PAGE,
) -> list[Party]:  # fmt: skip
    """The organisation's parties; `identifier` as SCHEME:value (IPI:00012345678, DPID:PADPIDA…)."""
    return await ingestion.parties_filtered(conn, caller.organisation_id, name=name,
                                            kind=kind.value if kind else None, identifier=identifier,
                                            limit=page.limit, offset=page.offset)  # fmt: skip


async def shares(
    conn: asyncpg.Connection, caller: Principal, *, subject_id: UUID | None = None, party_id: UUID | None = None,
    right: Right | None = None, page: Page = FIRST_PAGE,
) -> list[ControlEdge]:  # fmt: skip
    """Shares recorded on the recordings and works the organisation controls."""
    return await ingestion.shares_held(conn, caller.organisation_id, subject_id=subject_id, party_id=party_id,
                                       right=right, limit=page.limit, offset=page.offset)  # fmt: skip


# Disputed claims


async def disputed_claims(
    conn: asyncpg.Connection, caller: Principal, *, status: ClaimStatus | None = ClaimStatus.PENDING,
    limit: int = 100,
) -> list[DisputedClaim]:  # fmt: skip
    """Claims other organisations' imports made on the caller's organisation's recordings and works."""
    return await claim_store.claims_on(conn, caller.organisation_id, status, limit)


async def decide_claim(
    conn: asyncpg.Connection, caller: Principal, claim_id: UUID, *, accept: bool, now: datetime
) -> DisputedClaim:
    """Accept (the share is written through the ownership rule, within 100 %) or reject a claim."""
    store = open_store(conn)
    async with conn.transaction():
        claim = await claim_store.claim_for_update(conn, claim_id)
        if claim is None or not caller.acts_for(claim.controller_organisation_id):
            raise NotFound(f"no claim {claim_id} on your organisation's catalogue")
        if claim.status is not ClaimStatus.PENDING:
            raise SplitConflict(f"the claim was {claim.status.value} already")
        status = ClaimStatus.ACCEPTED if accept else ClaimStatus.REJECTED
        if accept:
            await require_control(conn, caller, subject_id=claim.subject_id)
            await _write_share(store, claim.share)
        await claim_store.decide(conn, claim.id, status, caller.user_id, now)
        decided = msgspec.structs.replace(claim, status=status, decided_at=now)
        await append_audit(conn, "rights", claim.subject_id, f"claim_{status.value}", decided, caller.user_id)
    return decided


async def organisation_names(conn: asyncpg.Connection, ids: Collection[UUID]) -> dict[UUID, str]:
    """Organisations' names, to show people names instead of ids."""
    return await request_store.organisation_names(conn, ids)


# Licence requests

MAX_REQUEST_MESSAGE = 2000


class RequestRefused(ValueError):
    """The use needs no request (it can be bought now) or cannot be licensed at all (409)."""

    status_code = 409


async def request_licence(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, usage: Usage, *, message: str = "",
    now: datetime,
) -> LicenceRequest:  # fmt: skip
    """Ask the track's rights holders for a use clearance cannot sell at once; asking again answers the same request.

    Refused when the use can be bought now (buy it or make an offer) or is blocked, and on one's own track.
    """
    if len(message) > MAX_REQUEST_MESSAGE:
        raise ValueError(f"message must be at most {MAX_REQUEST_MESSAGE} characters")
    track = await get_track(conn, track_id)
    if caller.acts_for(track.owner_organisation_id):
        raise Forbidden("this is your own track: there is no one to ask for a licence")
    cleared = await clearance(conn, track_id, usage)
    if cleared.outcome is Outcome.CLEARABLE_NOW:
        raise SplitConflict("this use can be licensed now: buy it or make an offer instead of requesting it")
    if cleared.outcome is Outcome.BLOCKED:
        raise RequestRefused("this use cannot be licensed: " + "; ".join(cleared.reasons))
    wanted = LicenceRequest(
        id=uuid4(), track_id=track_id, track_title=track.title, owner_organisation_id=track.owner_organisation_id,
        requester_organisation_id=caller.organisation_id, requester_name="", usage=usage, message=message.strip(),
        reasons=cleared.reasons, created_at=now,
    )  # fmt: skip
    async with conn.transaction():
        stored = await request_store.insert_request(conn, wanted, caller.user_id)
        if stored.id == wanted.id:
            await append_audit(conn, "rights", track_id, "licence_requested", stored, caller.user_id)
    return stored


async def list_licence_requests(
    conn: asyncpg.Connection, organisation_id: UUID, limit: int = 100
) -> list[LicenceRequest]:
    """Requests on the organisation's tracks, newest first (the rights holder's inbox)."""
    return await request_store.requests_to(conn, organisation_id, limit)


async def licence_requests_made(
    conn: asyncpg.Connection, organisation_id: UUID, limit: int = 100
) -> list[LicenceRequest]:
    """Requests the organisation made as a buyer, newest first."""
    return await request_store.requests_by(conn, organisation_id, limit)
