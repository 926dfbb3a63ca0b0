"""DDEX ERN 4 NewReleaseMessage (4.1 to 4.3): parties, sound recordings, releases and track releases,
every deal's territories, master controllers, and the works the recordings embody.

Parsed with defusedxml, which refuses DTDs, entities and external references, so a file cannot make
us read local files or expand itself into gigabytes. Namespaces are ignored: ERN 4.1–4.3 differ in
the namespace URI and in a few element names (4.1 and 4.1.1 say `RightsControllerRole` where 4.2 says
`RightsControlType`; 4.1 writes a rights controller's party inline), and both forms are read.
Publishing splits are not part of an ERN message; works arrive with their writers, and their shares
come from a split sheet or CWR. Identifiers are checked and normalised (`rights.identifiers`); a bad
one refuses the file, naming its element.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from uuid import UUID, uuid4
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
import msgspec
from defusedxml import DefusedXmlException

from rights import identifiers
from rights.identifiers import IdentifierError
from rights.imports import UNDATED_START, ImportBatch, ImportFailed
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    Party,
    PartyKind,
    Period,
    Recording,
    Release,
    Right,
    RightsError,
    UnknownShare,
    Work,
)
from rights.territories import COUNTRIES, WORLD, TerritoryError, TerritoryScope, describe

SUPPORTED_ERN_MAJOR = "4"
_ERN_NAMESPACE = re.compile(r"\{http://ddex\.net/xml/ern/(\d)\d*\}")
_ERN_VERSION = re.compile(r"ern/(\d)")
WRITER_ROLES = frozenset({"Composer", "Lyricist", "ComposerLyricist", "Writer", "Author"})
MASTER_OWNER_ROLE = "RightsController"
ADMINISTRATOR_ROLES = frozenset(
    {"RightsAdministrator", "RoyaltyAdministrator", "AdministratingRecordCompany"}
)
_DURATION = re.compile(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?")
# Party identifier elements and how each is checked; a PartyId's own text is a DPID.
_PARTY_IDS = {"IpiNameNumber": ("IPI", identifiers.ipi), "IPI": ("IPI", identifiers.ipi),
              "ISNI": ("ISNI", identifiers.isni), "DPID": ("DPID", identifiers.dpid)}  # fmt: skip


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element | None, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name] if element is not None else []


def _child(element: Element, *path: str) -> Element | None:
    current: Element | None = element
    for name in path:
        found = _children(current, name)
        current = found[0] if found else None
    return current


def _text(element: Element, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _descendants(element: Element, name: str) -> list[Element]:
    return [found for found in element.iter() if _local(found.tag) == name]


def _seconds(duration: str) -> int | None:
    """ISO 8601 durations as DDEX writes them (`PT3M41S`, `PT1H2M`)."""
    found = _DURATION.fullmatch(duration)
    if not duration or not found or not any(found.groups()):
        return None
    days, hours, minutes, seconds = found.groups()
    return round(
        int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    )


def scope_of(countries: frozenset[str]) -> TerritoryScope:
    """The shortest scope naming exactly these countries: WORLD, WORLD except a few, or the countries."""
    missing = COUNTRIES - countries
    if len(missing) < len(countries):
        return TerritoryScope(include=(WORLD,), exclude=tuple(sorted(missing)))
    return TerritoryScope(include=tuple(sorted(countries)))


class _Offer:
    """Where and when a resource is offered, summed over every deal of every release that carries it."""

    def __init__(self) -> None:
        self.countries: set[str] = set()
        self.starts: list[date] = []
        self.ends: list[date | None] = []

    def add(self, scope: TerritoryScope, period: Period) -> None:
        self.countries |= scope.countries()
        self.starts.append(period.start)
        self.ends.append(period.end)

    def scope(self) -> TerritoryScope:
        return scope_of(frozenset(self.countries))

    def period(self) -> Period:
        ends = [end for end in self.ends if end is not None]
        return Period(start=min(self.starts), end=max(ends) if len(ends) == len(self.ends) else None)


class _Message:
    """Walks one message, collecting structs and errors that carry the element path."""

    def __init__(self, root: Element) -> None:
        self.root = root
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.parties: dict[str, Party] = {}
        self.people: set[str] = set()  # references of artists and writers
        self.companies: set[str] = set()  # references of labels and rights controllers
        self.works: dict[str, Work] = {}
        self.recordings: dict[str, Recording] = {}
        self.releases: list[Release] = []
        self.control: list[ControlEdge] = []
        self.unknown_shares: list[UnknownShare] = []
        self.administration: list[AdministrationEdge] = []

    # Parties

    def party_ref(self, reference: str, where: str) -> UUID | None:
        party = self.parties.get(reference)
        if party is None:
            self.errors.append(f"{where}: no Party with PartyReference {reference!r} in the PartyList")
            return None
        return party.id

    def read_parties(self) -> None:
        for n, element in enumerate(_children(_child(self.root, "PartyList"), "Party"), 1):
            where = f"PartyList/Party[{n}]"
            reference = _text(element, "PartyReference")
            if not reference:
                self.errors.append(f"{where}/PartyReference: missing")
            party = self.read_party(element, where)
            if reference and party:
                self.parties[reference] = party

    def read_party(self, element: Element, where: str) -> Party | None:
        """A party with its name and every identifier (a 4.1 rights controller is written inline like this)."""
        name = _text(element, "PartyName", "FullName")
        if not name:
            self.errors.append(f"{where}/PartyName/FullName: missing")
        found: list[str] = []
        for m, party_id in enumerate(_children(element, "PartyId"), 1):
            found.extend(self.party_identifiers(party_id, f"{where}/PartyId[{m}]"))
        if not name:
            return None
        known = list(dict.fromkeys(found))
        ipi = next((i.split(":", 1)[1] for i in known if i.startswith("IPI:")), None)
        isni = next((i.split(":", 1)[1] for i in known if i.startswith("ISNI:")), None)
        return Party(id=uuid4(), name=name, ipi=ipi, isni=isni, identifiers=tuple(known))

    def party_identifiers(self, element: Element, where: str) -> list[str]:
        found = []
        if own := (element.text or "").strip():
            found.append(self.identifier("DPID", identifiers.dpid, own, where))
        for child in element:
            name, value = _local(child.tag), (child.text or "").strip()
            if name in _PARTY_IDS:
                scheme, check = _PARTY_IDS[name]
                found.append(self.identifier(scheme, check, value, f"{where}/{name}"))
            elif name == "ProprietaryId":
                namespace = child.get("Namespace", "").strip()
                if not value or not namespace:
                    self.errors.append(f"{where}/ProprietaryId: needs a value and a Namespace")
                found.append(f"PROPRIETARY:{namespace}:{value}")
            elif value:
                found.append(f"{name.upper()}:{value}")  # IPN, CisacSocietyId: kept as given
        return [f for f in found if f]

    def identifier(self, scheme: str, check: object, value: str, where: str) -> str:
        assert callable(check)
        try:
            return f"{scheme}:{check(value)}"
        except IdentifierError as exc:
            self.errors.append(f"{where}: {exc}")
            return ""

    # Releases and deals

    def read_releases(self) -> dict[str, _Offer]:
        """Releases and track releases with their deals; where and when each resource reference is offered."""
        release_list = _child(self.root, "ReleaseList")
        resources_of: dict[str, list[str]] = {}
        elements: dict[str, tuple[Element, str]] = {}
        for kind in ("Release", "TrackRelease"):
            for n, element in enumerate(_children(release_list, kind), 1):
                reference = _text(element, "ReleaseReference")
                resources_of[reference] = [
                    (e.text or "").strip() for e in _descendants(element, "ReleaseResourceReference")
                ]
                elements[reference] = (element, f"ReleaseList/{kind}[{n}]")
        offers: dict[str, _Offer] = defaultdict(_Offer)
        release_offers: dict[str, _Offer] = defaultdict(_Offer)
        for n, deal in enumerate(_children(_child(self.root, "DealList"), "ReleaseDeal"), 1):
            where = f"DealList/ReleaseDeal[{n}]"
            terms = [
                self.deal_terms(deal_terms, f"{where}/Deal[{m}]/DealTerms")
                for m, d in enumerate(_children(deal, "Deal"), 1)
                if (deal_terms := _child(d, "DealTerms")) is not None
            ]
            for dealt in _children(deal, "DealReleaseReference"):
                release = (dealt.text or "").strip()
                if release not in resources_of:
                    self.errors.append(
                        f"{where}/DealReleaseReference: no Release {release!r} in the ReleaseList"
                    )
                    continue
                for scope, period in (offer for offer in terms if offer is not None):
                    release_offers[release].add(scope, period)
                    for resource in resources_of[release]:
                        offers[resource].add(scope, period)
        self.release_elements = elements
        self.resources_of = resources_of
        self.release_offers = release_offers
        return offers

    def deal_terms(self, terms: Element, where: str) -> tuple[TerritoryScope, Period] | None:
        try:
            scope = TerritoryScope(
                include=tuple((e.text or "").strip() for e in _children(terms, "TerritoryCode")) or (WORLD,),
                exclude=tuple((e.text or "").strip() for e in _children(terms, "ExcludedTerritoryCode")),
            )
            validity = _child(terms, "ValidityPeriod")
            start = (
                self.date(validity, f"{where}/ValidityPeriod", "StartDate") if validity is not None else None
            )
            end = self.date(validity, f"{where}/ValidityPeriod", "EndDate") if validity is not None else None
            return scope, Period(start=start or UNDATED_START, end=end)
        except (TerritoryError, RightsError) as exc:
            self.errors.append(f"{where}: {exc}")
            return None

    def build_releases(self) -> None:
        for reference, (element, where) in self.release_elements.items():
            recordings = [self.recordings[r].id for r in self.resources_of[reference] if r in self.recordings]
            if not recordings:
                continue  # a video or image release
            titled = self.recordings[self.resources_of[reference][0]].title if recordings else reference
            offer = self.release_offers.get(reference)
            kind = "track_release" if _local(element.tag) == "TrackRelease" else "release"
            self.releases.append(Release(
                id=uuid4(), title=_text(element, "DisplayTitleText") or _text(element, "DisplayTitle", "TitleText")
                or titled, kind=kind, identifier=self.release_identifier(element, where),
                recording_ids=tuple(recordings), territories=offer.scope() if offer else None,
                period=offer.period() if offer else None,
            ))  # fmt: skip

    def release_identifier(self, element: Element, where: str) -> str | None:
        release_id = _child(element, "ReleaseId")
        if release_id is None:
            return None
        for name in ("ICPN", "GRid", "CatalogNumber"):
            if value := _text(release_id, name):
                return f"{name.upper()}:{value}"
        proprietary = _child(release_id, "ProprietaryId")
        if proprietary is not None and (proprietary.text or "").strip():
            return f"PROPRIETARY:{proprietary.get('Namespace', '')}:{(proprietary.text or '').strip()}"
        return None

    def date(self, element: Element, where: str, *path: str) -> date | None:
        text = _text(element, *path)
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            self.errors.append(f"{where}/{'/'.join(path)}: {text!r} is not a date")
            return None

    # Sound recordings

    def read_recordings(self, offers: dict[str, _Offer]) -> None:
        resource_list = _child(self.root, "ResourceList")
        recordings = _children(resource_list, "SoundRecording")
        if not recordings:
            if _children(resource_list, "Video"):
                self.errors.append("video releases are not imported: this message has no SoundRecording")
            else:
                self.errors.append("ResourceList: no SoundRecording")
        for n, element in enumerate(recordings, 1):
            self.read_recording(element, f"ResourceList/SoundRecording[{n}]", offers)

    def read_recording(self, element: Element, where: str, offers: dict[str, _Offer]) -> None:
        reference = _text(element, "ResourceReference")
        title = (
            _text(element, "DisplayTitleText")
            or _text(element, "DisplayTitle", "TitleText")
            or _text(element, "ReferenceTitle", "TitleText")
            or _text(element, "Title", "TitleText")
        )
        if not reference:
            self.errors.append(f"{where}/ResourceReference: missing")
        if not title:
            self.errors.append(f"{where}/DisplayTitleText: missing")
        isrc, proprietary = self.recording_ids(element, where)
        if not reference or not title:
            return
        artists = []
        for m, artist in enumerate(_children(element, "DisplayArtist"), 1):
            party = _text(artist, "ArtistPartyReference")
            if self.party_ref(party, f"{where}/DisplayArtist[{m}]/ArtistPartyReference"):
                self.people.add(party)
                artists.append(self.parties[party].name)
        work = self.work_of(element, where, title)
        recording = Recording(
            id=uuid4(), title=title, isrc=isrc, work_id=work.id if work else None,
            artist=_text(element, "DisplayArtistName") or ", ".join(artists),
            duration_seconds=_seconds(_text(element, "Duration")), proprietary_id=proprietary,
        )  # fmt: skip
        self.recordings[reference] = recording
        offer = offers.get(reference)
        scope, period = (
            (offer.scope(), offer.period()) if offer else (TerritoryScope(), Period(start=UNDATED_START))
        )
        controllers = _children(element, "ResourceRightsController")
        if not controllers:
            self.warnings.append(f"{where}: no ResourceRightsController, so its master has no known owner")
        owners: list[UUID] = []
        administrators: list[tuple[UUID, TerritoryScope, Period]] = []
        for m, controller in enumerate(controllers, 1):
            read = self.read_controller(
                controller, f"{where}/ResourceRightsController[{m}]", recording, scope, period
            )
            if read is not None:
                role, party_id, its_scope, its_period = read
                if role == MASTER_OWNER_ROLE:
                    owners.append(party_id)
                else:
                    administrators.append((party_id, its_scope, its_period))
        for administrator, its_scope, its_period in administrators:
            self.administration.extend(
                AdministrationEdge(id=uuid4(), administrator_id=administrator, administered_id=owner,
                                   subject_id=recording.id, territories=its_scope, period=its_period)
                for owner in owners if owner != administrator
            )  # fmt: skip

    def recording_ids(self, element: Element, where: str) -> tuple[str | None, str | None]:
        """The recording's ISRC (checked and normalised) and the sender's proprietary id."""
        isrc = proprietary = None
        for resource_id in _descendants(element, "ResourceId"):
            for child in resource_id:
                value = (child.text or "").strip()
                if _local(child.tag) == "ISRC" and isrc is None:
                    try:
                        isrc = identifiers.isrc(value)
                    except IdentifierError as exc:
                        self.errors.append(f"{where}/ResourceId/ISRC: {exc}")
                elif _local(child.tag) == "ProprietaryId" and proprietary is None and value:
                    proprietary = f"{child.get('Namespace', '').strip()}:{value}"
        return isrc, proprietary

    def work_of(self, element: Element, where: str, title: str) -> Work | None:
        iswc = None
        if written := next(((e.text or "").strip() for e in _descendants(element, "ISWC")), ""):
            try:
                iswc = identifiers.iswc(written)
            except IdentifierError as exc:
                self.errors.append(f"{where}/WorkId/ISWC: {exc}")
        writers: list[UUID] = []
        for m, contributor in enumerate(_children(element, "Contributor"), 1):
            reference = _text(contributor, "ContributorPartyReference")
            party_id = self.party_ref(reference, f"{where}/Contributor[{m}]/ContributorPartyReference")
            if party_id:
                self.people.add(reference)
            roles = {(r.text or "").strip() for r in [*_children(contributor, "Role"),
                                                       *_children(contributor, "ContributorRole")]}  # fmt: skip
            if roles & WRITER_ROLES and party_id:
                writers.append(party_id)
        if not iswc and not writers:
            return None
        key = iswc or f"title:{title}"
        known = self.works.get(key)
        self.works[key] = Work(
            id=known.id if known else uuid4(), title=known.title if known else title, iswc=iswc,
            writer_ids=tuple(dict.fromkeys([*(known.writer_ids if known else ()), *writers])),
        )  # fmt: skip
        return self.works[key]

    def controller_party(self, element: Element, where: str) -> UUID | None:
        reference = _text(element, "RightsControllerPartyReference")
        if reference:
            self.companies.add(reference)
            return self.party_ref(reference, f"{where}/RightsControllerPartyReference")
        inline = self.read_party(element, where)  # 4.1 names the controller in place
        if inline is None:
            return None
        key = f"inline:{where}"
        self.parties[key] = inline
        self.companies.add(key)
        return inline.id

    def read_controller(
        self, element: Element, where: str, recording: Recording, scope: TerritoryScope, period: Period
    ) -> tuple[str, UUID, TerritoryScope, Period] | None:
        """One controller's share (or unknown share) of the master, or its administration role."""
        role = (
            _text(element, "RightsControlType") or _text(element, "RightsControllerRole") or MASTER_OWNER_ROLE
        )
        party_id = self.controller_party(element, where)
        if role != MASTER_OWNER_ROLE and role not in ADMINISTRATOR_ROLES:
            self.warnings.append(f"{where}: a {role} holds no share of the master; skipped")
            return None
        delegated = [(e.text or "").strip() for e in _descendants(element, "TerritoryOfRightsDelegation")]
        try:
            if delegated:
                scope = TerritoryScope(include=tuple(delegated))
            start = self.date(element, where, "StartDate")
            if start:
                period = Period(start=start, end=period.end)
        except (TerritoryError, RightsError) as exc:
            self.errors.append(f"{where}: {exc}")
            return None
        if party_id is None:
            return None
        if role != MASTER_OWNER_ROLE:
            return role, party_id, scope, period
        if _text(element, "RightShareUnknown").lower() == "true":
            self.unknown_shares.append(UnknownShare(id=uuid4(), party_id=party_id, subject_id=recording.id,
                                                    right=Right.MASTER, territories=scope, period=period))  # fmt: skip
            self.warnings.append(
                f"{where}: the share of the master is unknown, so {describe(scope.countries())} stays a gap"
            )
            return role, party_id, scope, period
        share_bp = self.share(element, where)
        if share_bp is not None:
            self.control.append(ControlEdge(id=uuid4(), party_id=party_id, subject_id=recording.id,
                                            right=Right.MASTER, share_bp=share_bp, territories=scope,
                                            period=period))  # fmt: skip
        return role, party_id, scope, period

    def share(self, element: Element, where: str) -> int | None:
        """RightSharePercentage in basis points (HasMaxValueOfOne: written as a fraction of one)."""
        found = _child(element, "RightSharePercentage")
        percentage = (found.text or "").strip() if found is not None else "100"
        try:
            value = Decimal(percentage)
            if found is not None and found.get("HasMaxValueOfOne", "false").strip() == "true":
                value *= 100
            basis_points = value * 100
        except InvalidOperation:
            basis_points = Decimal("NaN")
        if (
            basis_points.is_nan()
            or basis_points != basis_points.to_integral_value()
            or not 0 < basis_points <= 10_000
        ):
            self.errors.append(
                f"{where}/RightSharePercentage: {percentage!r} is not a percentage above 0 and up to 100 "
                "with at most two decimals"
            )
            return None
        return int(basis_points)

    def share_no_proprietary_ids(self) -> None:
        """A sender's id given to two recordings identifies neither: it is dropped, and they are matched
        by title and artist instead."""
        holders: dict[str, list[str]] = defaultdict(list)
        for reference, recording in self.recordings.items():
            if recording.proprietary_id:
                holders[recording.proprietary_id].append(reference)
        for proprietary_id, references in holders.items():
            if len(references) > 1:
                self.warnings.append(
                    f"the sender's id {proprietary_id} is given to {len(references)} recordings "
                    f"({', '.join(references)}), so it identifies none of them"
                )
                for reference in references:
                    self.recordings[reference] = Recording(
                        **{**msgspec.structs.asdict(self.recordings[reference]), "proprietary_id": None}
                    )

    def typed_parties(self) -> list[Party]:
        """Artists and writers are people; labels and rights controllers, and parties of unknown part, companies."""
        return [
            party if reference not in self.people or reference in self.companies
            else Party(id=party.id, name=party.name, kind=PartyKind.PERSON, ipi=party.ipi, isni=party.isni,
                       identifiers=party.identifiers)
            for reference, party in self.parties.items()
        ]  # fmt: skip


def _root(data: bytes) -> Element:
    """The root element with its attributes, read without parsing the rest of the file."""
    for _event, element in SafeElementTree.iterparse(io.BytesIO(data), events=("start",), forbid_dtd=True):
        found: Element = element
        return found
    raise ParseError("no root element")


def _check_version(root: Element) -> None:
    """An ERN other than 4 is refused by its namespace or its MessageSchemaVersionId, before anything else is read."""
    found = _ERN_NAMESPACE.match(root.tag) or _ERN_VERSION.match(root.get("MessageSchemaVersionId", ""))
    if found and found.group(1) != SUPPORTED_ERN_MAJOR:
        raise ImportFailed([f"ERN {found.group(1)} is not supported; send ERN {SUPPORTED_ERN_MAJOR}"])


def _duplicate_identifiers(batch: ImportBatch, where: dict[UUID, str]) -> list[str]:
    """Two parties with one identifier or two recordings with one ISRC: each pair named by its elements."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for party in batch.parties:
        for identifier in party.identifiers:
            scheme, value = identifier.split(":", 1)
            seen[scheme, value].append(where[party.id])
    for recording in batch.recordings:
        if recording.isrc:
            seen["ISRC", recording.isrc].append(where[recording.id])
    return [
        f"{' and '.join(elements)} have the same {kind} {value}"
        for (kind, value), elements in seen.items()
        if len(elements) > 1
    ]


def parse_ern(data: bytes) -> ImportBatch:
    """Parse an ERN 4 NewReleaseMessage; every problem names its element, and nothing is returned then.

    CPU-bound on large files: call it off the event loop.
    """
    try:
        _check_version(_root(data))
        root = SafeElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise ImportFailed(["the file declares a DTD or entities, which are refused for safety"]) from None
    except ParseError as exc:
        raise ImportFailed([f"not well-formed XML: {exc}"]) from None
    if _local(root.tag) != "NewReleaseMessage":
        raise ImportFailed([f"{_local(root.tag)}: expected an ERN NewReleaseMessage as the root element"])
    message = _Message(root)
    message.read_parties()
    message.read_recordings(message.read_releases())
    message.share_no_proprietary_ids()
    message.build_releases()
    if message.errors:
        raise ImportFailed(list(dict.fromkeys(message.errors)))
    batch = ImportBatch(
        parties=tuple(message.typed_parties()),
        works=tuple(message.works.values()),
        recordings=tuple(message.recordings.values()),
        releases=tuple(message.releases),
        control=tuple(message.control),
        unknown_shares=tuple(message.unknown_shares),
        administration=tuple(message.administration),
        warnings=tuple(message.warnings),
    )
    where = {p.id: f"PartyList/Party[{n}]" for n, p in enumerate(message.parties.values(), 1)}
    where |= {r.id: f"ResourceList/SoundRecording[{n}]" for n, r in enumerate(message.recordings.values(), 1)}
    if duplicates := _duplicate_identifiers(batch, where):
        raise ImportFailed(duplicates)
    return batch
