"""The official DDEX ERN 4 sample messages (../shared/ddex/ern/), each imported or refused with the right
sentence; what the parser returns is checked against counts taken from the XML in the test itself."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeElementTree
import pytest

from rights import identifiers
from rights.imports import ImportFailed
from rights.imports.ddex import parse_ern
from rights.model import PartyKind
from rights.territories import resolve

SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "ddex" / "ern"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the DDEX samples are not at {SAMPLES}")

AUDIO = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.glob("4[123]*/*.xml")
               if not any(v in p.name for v in ("Video", "instance")))  # fmt: skip
VIDEO = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.glob("4[123]*/*Video*.xml"))  # fmt: skip


def _local(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _all(element: Element, name: str) -> list[Element]:
    return [e for e in element.iter() if _local(e) == name]


def _of(element: Element | None, name: str) -> list[Element]:
    return [e for e in element if _local(e) == name] if element is not None else []


def _xml(sample: str) -> tuple[bytes, Element]:
    data = (SAMPLES / sample).read_bytes()
    return data, SafeElementTree.fromstring(data)


def test_the_samples_are_there() -> None:
    assert len(AUDIO) == 16 and len(VIDEO) == 9


@pytest.mark.parametrize("sample", AUDIO)
def test_every_sound_recording_of_a_sample_is_imported_with_its_isrc_title_and_artist(sample: str) -> None:
    data, root = _xml(sample)
    batch = parse_ern(data)
    sound_recordings = [e for e in _all(root, "SoundRecording") if _of(e, "ResourceReference")]
    isrcs = {identifiers.isrc(i.text or "") for r in sound_recordings for i in _all(r, "ISRC")}
    assert len(batch.recordings) == len(sound_recordings)
    assert {r.isrc for r in batch.recordings if r.isrc} == isrcs
    titles = {(r.findtext("{*}DisplayTitleText") or "").strip() for r in sound_recordings}
    assert {r.title for r in batch.recordings} == titles
    assert all(r.artist for r in batch.recordings)
    assert all(r.duration_seconds for r in batch.recordings if r.isrc)


@pytest.mark.parametrize("sample", AUDIO)
def test_every_party_of_a_sample_is_imported_and_artists_are_people(sample: str) -> None:
    data, root = _xml(sample)
    batch = parse_ern(data)
    party_list = _of(root, "PartyList")[0]
    assert {p.name for p in batch.parties} == {
        (p.findtext("{*}PartyName/{*}FullName") or "").strip() for p in _of(party_list, "Party")
    }
    artists = {(e.text or "").strip() for e in _all(root, "ArtistPartyReference")} | {
        (e.text or "").strip() for e in _all(root, "ContributorPartyReference")
    }
    labels = {(e.text or "").strip() for e in _all(root, "ReleaseLabelReference")}
    names = {(p.findtext("{*}PartyReference") or ""): (p.findtext("{*}PartyName/{*}FullName") or "").strip()
             for p in _of(party_list, "Party")}  # fmt: skip
    people = {p.name for p in batch.parties if p.kind is PartyKind.PERSON}
    assert people == {names[r] for r in artists if r in names} - {names[r] for r in labels - artists}
    identifiers_in_file = sum(
        len([c for c in party_id if (c.text or "").strip()]) + (1 if (party_id.text or "").strip() else 0)
        for p in _of(party_list, "Party") for party_id in _of(p, "PartyId")
    )  # fmt: skip
    assert sum(len(p.identifiers) for p in batch.parties) == identifiers_in_file


@pytest.mark.parametrize("sample", AUDIO)
def test_every_release_and_track_release_carries_every_deals_territories(sample: str) -> None:
    data, root = _xml(sample)
    batch = parse_ern(data)
    release_list = _of(root, "ReleaseList")[0]
    recording_refs = {(e.findtext("{*}ResourceReference") or "") for e in _all(root, "SoundRecording")}
    with_audio = [
        r for r in [*_of(release_list, "Release"), *_of(release_list, "TrackRelease")]
        if {(e.text or "").strip() for e in _all(r, "ReleaseResourceReference")} & recording_refs
    ]  # fmt: skip
    assert len(batch.releases) == len(with_audio)
    offered: dict[str, set[str]] = {}
    for deal in _all(root, "ReleaseDeal"):
        countries = set().union(*(
            resolve([(c.text or "") for c in _of(terms, "TerritoryCode")])
            - resolve([(c.text or "") for c in _of(terms, "ExcludedTerritoryCode")])
            for terms in _all(deal, "DealTerms")
        ))  # fmt: skip
        for reference in _of(deal, "DealReleaseReference"):
            offered.setdefault((reference.text or "").strip(), set()).update(countries)
    by_reference = {(r.findtext("{*}ReleaseReference") or ""): r for r in with_audio}
    for release, element in zip(batch.releases, by_reference.values(), strict=True):
        expected = offered.get(element.findtext("{*}ReleaseReference") or "")
        if expected is None:
            assert release.territories is None
        else:
            assert release.territories is not None and release.territories.countries() == expected


def test_a_release_offered_in_every_territory_is_offered_worldwide() -> None:
    batch = parse_ern((SAMPLES / "43" / "4 SimpleAudioSingle.xml").read_bytes())
    (release,) = batch.releases
    assert release.territories is not None and len(release.territories.countries()) == 249
    assert release.territories.describe() == "WORLD"


@pytest.mark.parametrize("sample", VIDEO)
def test_a_video_only_sample_is_refused_with_a_sentence(sample: str) -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_ern((SAMPLES / sample).read_bytes())
    assert failed.value.errors == ["video releases are not imported: this message has no SoundRecording"]


def test_the_schema_generated_41_instance_is_refused_naming_its_invalid_identifiers() -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_ern((SAMPLES / "41" / "instance1.xml").read_bytes())
    assert failed.value.errors[0].startswith("PartyList/Party[1]/PartyId[1]/ISNI: 'G_dhcrnVH' is not an ISNI")
    assert any("IpiNameNumber" in e and "is not an IPI name number" in e for e in failed.value.errors)
