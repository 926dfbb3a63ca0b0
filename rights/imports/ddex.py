"""DDEX ERN 4 NewReleaseMessage: parties, sound recordings, their works and master controllers, deals.

Parsed with defusedxml, which refuses DTDs, entities and external references, so a file cannot make
us read local files or expand itself into gigabytes. Namespaces are ignored: ERN 4.1–4.3 differ in
the namespace URI but not in the element names read here. Publishing splits are not part of an ERN
message; works arrive with their writers, and their shares come from a split sheet.
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
from defusedxml import DefusedXmlException

from rights.imports import UNDATED_START, ImportBatch, ImportFailed
from rights.model import ControlEdge, Party, PartyKind, Period, Recording, Right, RightsError, Work
from rights.territories import TerritoryError, TerritoryScope

SUPPORTED_ERN_MAJOR = "4"
_ERN_NAMESPACE = re.compile(r"\{http://ddex\.net/xml/ern/(\d)\d*\}")
WRITER_ROLES = frozenset({"Composer", "Lyricist", "ComposerLyricist", "Writer", "Author"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: Element, *path: str) -> Element | None:
    current: Element | None = element
    for name in path:
        found = _children(current, name) if current is not None else []
        current = found[0] if found else None
    return current


def _text(element: Element, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _descendant_text(element: Element, name: str) -> str:
    for found in element.iter():
        if _local(found.tag) == name and (found.text or "").strip():
            return (found.text or "").strip()
    return ""


class _Message:
    """Walks one message, collecting structs and errors that carry the element path."""

    def __init__(self, root: Element) -> None:
        self.root = root
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.parties: dict[str, Party] = {}
        self.works: dict[str, Work] = {}
        self.recordings: dict[str, Recording] = {}
        self.control: list[ControlEdge] = []

    def party_ref(self, reference: str, where: str) -> UUID | None:
        party = self.parties.get(reference)
        if party is None:
            self.errors.append(f"{where}: no Party with PartyReference {reference!r} in the PartyList")
            return None
        return party.id

    def read_parties(self) -> None:
        party_list = _child(self.root, "PartyList")
        for n, element in enumerate(_children(party_list, "Party") if party_list is not None else [], 1):
            where = f"PartyList/Party[{n}]"
            reference, name = _text(element, "PartyReference"), _text(element, "PartyName", "FullName")
            if not reference:
                self.errors.append(f"{where}/PartyReference: missing")
            if not name:
                self.errors.append(f"{where}/PartyName/FullName: missing")
            if reference and name:
                ipi = _text(element, "PartyId", "IpiNameNumber") or _text(element, "PartyId", "IPI")
                isni = _text(element, "PartyId", "ISNI")
                self.parties[reference] = Party(
                    id=uuid4(), name=name, ipi=ipi or None, isni=isni or None,
                    kind=PartyKind.PERSON if isni and not ipi else PartyKind.ORGANISATION,
                )  # fmt: skip

    def deal_scopes(self) -> dict[str, tuple[TerritoryScope, Period]]:
        """Where and when each released resource is dealt: the master controllers' scope unless they say."""
        releases: dict[str, list[str]] = {}
        release_list = _child(self.root, "ReleaseList")
        for element in _children(release_list, "Release") if release_list is not None else []:
            resources = [
                (e.text or "").strip() for e in element.iter() if _local(e.tag) == "ReleaseResourceReference"
            ]
            releases[_text(element, "ReleaseReference")] = resources
        scopes: dict[str, tuple[TerritoryScope, Period]] = {}
        deal_list = _child(self.root, "DealList")
        for n, deal in enumerate(_children(deal_list, "ReleaseDeal") if deal_list is not None else [], 1):
            where = f"DealList/ReleaseDeal[{n}]"
            terms = _child(deal, "Deal", "DealTerms")
            if terms is None:
                continue
            try:
                scope = TerritoryScope(
                    include=tuple((e.text or "").strip() for e in _children(terms, "TerritoryCode"))
                    or ("WORLD",),
                    exclude=tuple((e.text or "").strip() for e in _children(terms, "ExcludedTerritoryCode")),
                )
                period = Period(
                    start=self.date(terms, where, "ValidityPeriod", "StartDate") or UNDATED_START,
                    end=self.date(terms, where, "ValidityPeriod", "EndDate"),
                )
            except (TerritoryError, RightsError) as exc:
                self.errors.append(f"{where}/Deal/DealTerms: {exc}")
                continue
            for reference in _children(deal, "DealReleaseReference"):
                release = (reference.text or "").strip()
                if release not in releases:
                    self.errors.append(
                        f"{where}/DealReleaseReference: no Release {release!r} in the ReleaseList"
                    )
                for resource in releases.get(release, []):
                    scopes[resource] = (scope, period)
        return scopes

    def date(self, element: Element, where: str, *path: str) -> date | None:
        text = _text(element, *path)
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            self.errors.append(f"{where}/{'/'.join(path)}: {text!r} is not a date")
            return None

    def read_recordings(self, deal_scopes: dict[str, tuple[TerritoryScope, Period]]) -> None:
        resource_list = _child(self.root, "ResourceList")
        recordings = _children(resource_list, "SoundRecording") if resource_list is not None else []
        if not recordings:
            self.errors.append("ResourceList: no SoundRecording")
        for n, element in enumerate(recordings, 1):
            where = f"ResourceList/SoundRecording[{n}]"
            reference = _text(element, "ResourceReference")
            title = (
                _text(element, "DisplayTitleText")
                or _text(element, "DisplayTitle", "TitleText")
                or _text(element, "Title", "TitleText")
            )
            if not reference:
                self.errors.append(f"{where}/ResourceReference: missing")
            if not title:
                self.errors.append(f"{where}/DisplayTitleText: missing")
            if not reference or not title:
                continue
            work = self.work_of(element, where, title)
            recording = Recording(
                id=uuid4(), title=title, isrc=_descendant_text(element, "ISRC") or None,
                work_id=work.id if work else None,
            )  # fmt: skip
            self.recordings[reference] = recording
            scope, period = deal_scopes.get(reference, (TerritoryScope(), Period(start=UNDATED_START)))
            controllers = _children(element, "ResourceRightsController")
            if not controllers:
                self.warnings.append(
                    f"{where}: no ResourceRightsController, so its master has no known owner"
                )
            for m, controller in enumerate(controllers, 1):
                self.read_controller(
                    controller, f"{where}/ResourceRightsController[{m}]", recording, scope, period
                )

    def work_of(self, element: Element, where: str, title: str) -> Work | None:
        iswc = _descendant_text(element, "ISWC")
        writers: list[UUID] = []
        for m, contributor in enumerate(_children(element, "Contributor"), 1):
            roles = {(r.text or "").strip() for r in _children(contributor, "Role")}
            if roles & WRITER_ROLES:
                reference = _text(contributor, "ContributorPartyReference")
                party_id = self.party_ref(reference, f"{where}/Contributor[{m}]/ContributorPartyReference")
                if party_id:
                    writers.append(party_id)
        if not iswc and not writers:
            return None
        key = iswc or f"title:{title}"
        known = self.works.get(key)
        self.works[key] = Work(
            id=known.id if known else uuid4(), title=known.title if known else title, iswc=iswc or None,
            writer_ids=tuple(dict.fromkeys([*(known.writer_ids if known else ()), *writers])),
        )  # fmt: skip
        return self.works[key]

    def read_controller(
        self, element: Element, where: str, recording: Recording, scope: TerritoryScope, period: Period
    ) -> None:
        control_type = _text(element, "RightsControlType") or "RightsController"
        if control_type != "RightsController":
            self.warnings.append(
                f"{where}: RightsControlType {control_type} is not a share of the master; skipped"
            )
            return
        party_id = self.party_ref(
            _text(element, "RightsControllerPartyReference"), f"{where}/RightsControllerPartyReference"
        )
        percentage = _text(element, "RightSharePercentage") or "100"
        try:
            basis_points = Decimal(percentage) * 100
        except InvalidOperation:
            basis_points = Decimal("NaN")
        if basis_points.is_nan() or basis_points != basis_points.to_integral_value():
            self.errors.append(
                f"{where}/RightSharePercentage: {percentage!r} is not a percentage with two decimals"
            )
            return
        share_bp = int(basis_points)
        delegated = [
            (e.text or "").strip() for e in element.iter() if _local(e.tag) == "TerritoryOfRightsDelegation"
        ]
        try:
            if delegated:
                scope = TerritoryScope(include=tuple(delegated))
            start = self.date(element, where, "StartDate")
            if start:
                period = Period(start=start, end=period.end)
            if party_id:
                self.control.append(
                    ControlEdge(id=uuid4(), party_id=party_id, subject_id=recording.id, right=Right.MASTER,
                                share_bp=share_bp, territories=scope, period=period)
                )  # fmt: skip
        except (TerritoryError, RightsError) as exc:
            self.errors.append(f"{where}: {exc}")


def _root_tag(data: bytes) -> str:
    """The root element's tag, read without parsing the rest of the file."""
    for _event, element in SafeElementTree.iterparse(io.BytesIO(data), events=("start",), forbid_dtd=True):
        tag: str = element.tag
        return tag
    raise ParseError("no root element")


def _check_version(root_tag: str) -> None:
    """An ERN other than 4 is refused by its namespace, before anything else is read."""
    found = _ERN_NAMESPACE.match(root_tag)
    if found and found.group(1) != SUPPORTED_ERN_MAJOR:
        raise ImportFailed(
            [f"ERN {found.group(1)} is not supported; send ERN {SUPPORTED_ERN_MAJOR} (a NewReleaseMessage)"]
        )


def _duplicate_identifiers(root: Element) -> list[str]:
    """Two parties with one IPI or two recordings with one ISRC: each pair named by its elements."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    party_list = _child(root, "PartyList")
    for n, party in enumerate(_children(party_list, "Party") if party_list is not None else [], 1):
        ipi = _text(party, "PartyId", "IpiNameNumber") or _text(party, "PartyId", "IPI")
        if ipi:
            seen["IPI", ipi].append(f"PartyList/Party[{n}]")
    resource_list = _child(root, "ResourceList")
    recordings = _children(resource_list, "SoundRecording") if resource_list is not None else []
    for n, recording in enumerate(recordings, 1):
        isrc = _descendant_text(recording, "ISRC")
        if isrc:
            seen["ISRC", isrc].append(f"ResourceList/SoundRecording[{n}]")
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
        _check_version(_root_tag(data))
        root = SafeElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise ImportFailed(["the file declares a DTD or entities, which are refused for safety"]) from None
    except ParseError as exc:
        raise ImportFailed([f"not well-formed XML: {exc}"]) from None
    if _local(root.tag) != "NewReleaseMessage":
        raise ImportFailed([f"{_local(root.tag)}: expected an ERN NewReleaseMessage as the root element"])
    if duplicates := _duplicate_identifiers(root):
        raise ImportFailed(duplicates)
    message = _Message(root)
    message.read_parties()
    message.read_recordings(message.deal_scopes())
    if message.errors:
        raise ImportFailed(message.errors)
    return ImportBatch(
        parties=tuple(message.parties.values()),
        works=tuple(message.works.values()),
        recordings=tuple(message.recordings.values()),
        control=tuple(message.control),
        warnings=tuple(message.warnings),
    )
