from __future__ import annotations

from datetime import date

import pytest

from rights.imports import ImportFailed
from rights.imports.ddex import parse_ern
from rights.imports.split_sheet import parse_split_sheet
from rights.model import Right

SHEET = """\
right,party,ipi,share,isrc,recording_title,iswc,work_title,territories,exclude,start,end,administrator
master,Northern Lights Records,,100,GBAYE2600001,Harbour Lights,,,WORLD,,,,
publishing,Ada Writer,00012345678,50,,,T-123.456.789-0,Harbour Lights,WORLD,,,,Harbour Songs Publishing
publishing,Ben Writer,,25,GBAYE2600001,Harbour Lights,T-123.456.789-0,Harbour Lights,WORLD,,,,
publishing,Ben Writer,,25,,,T-123.456.789-0,Harbour Lights,WORLD,DE,2020-01-01,,
"""


def test_split_sheet_builds_parties_works_recordings_and_shares() -> None:
    batch = parse_split_sheet(SHEET)
    assert {p.name for p in batch.parties} == {
        "Northern Lights Records", "Ada Writer", "Ben Writer", "Harbour Songs Publishing"
    }  # fmt: skip
    (work,) = batch.works
    (recording,) = batch.recordings
    assert recording.isrc == "GBAYE2600001" and recording.work_id == work.id
    assert sorted(e.share_bp for e in batch.control if e.right is Right.PUBLISHING) == [2_500, 2_500, 5_000]
    (admin,) = batch.administration
    assert admin.subject_id == work.id
    ben = [e for e in batch.control if e.period.start == date(2020, 1, 1)]
    assert ben[0].territories.exclude == ("DE",)


def test_split_sheet_gap_is_a_warning_not_an_error() -> None:
    batch = parse_split_sheet(SHEET)
    assert any("25 % of the publishing in DE" in w for w in batch.warnings)


def test_split_sheet_errors_name_the_line() -> None:
    bad = SHEET + "sync,X,,10,,Harbour Lights,,,,,,,\nmaster,Y,,120,,Harbour Lights,,,,,,,\n"
    bad += "master,Z,,10,,Harbour Lights,,,XX,,,,\nmaster,Z,,10,,Harbour Lights,,,,,31/01/2026,,\n"
    with pytest.raises(ImportFailed) as failed:
        parse_split_sheet(bad)
    assert failed.value.errors == [
        "line 6: right must be master or publishing, got 'sync'",
        "line 7: share '120' must be a percentage above 0 and at most 100",
        "line 8: unknown territory 'XX': use an ISO 3166-1 alpha-2 code, a TIS number, WORLD or one of "
        "APAC, DACH, EU, EUROPE, LATAM, NORDICS, NORTH_AMERICA",
        "line 9: start '31/01/2026' is not a date like 2026-01-31",
    ]


def test_split_sheet_overlap_is_an_error_naming_the_lines() -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_split_sheet(SHEET + "master,Rival,,30,GBAYE2600001,Harbour Lights,,,FR,,,,\n")
    assert failed.value.errors == [
        "lines 2, 6: recording 'Harbour Lights': claims on the master in FR add up to 130 % "
        "(Northern Lights Records 100 %, Rival 30 %)"
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("party,share\nA,10\n", "line 1: missing column(s) right"),
        ("right,party,share,colour\n", "line 1: unknown column(s) colour"),
        ("right,party,share\n", "the split sheet has no rows"),
        ("right,party,share\npublishing,A,10\n", "line 2: a publishing share needs iswc or work_title"),
        ("right,party,share,isrc\nmaster,A,12.345,X\n", "line 2: share '12.345' has more than two decimals"),
    ],
)
def test_split_sheet_structural_errors(text: str, error: str) -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_split_sheet(text)
    assert failed.value.errors[0].startswith(error)


ERN = b"""<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" AvsVersionId="4.3">
  <MessageHeader><MessageId>M1</MessageId></MessageHeader>
  <PartyList>
    <Party><PartyReference>PLabel</PartyReference><PartyName><FullName>Northern Lights Records</FullName></PartyName></Party>
    <Party><PartyReference>PDist</PartyReference><PartyName><FullName>Far Shore Music</FullName></PartyName></Party>
    <Party><PartyReference>PWriter</PartyReference><PartyId><IpiNameNumber>00012345678</IpiNameNumber></PartyId>
      <PartyName><FullName>Ada Writer</FullName></PartyName></Party>
  </PartyList>
  <ResourceList>
    <SoundRecording>
      <ResourceReference>A1</ResourceReference>
      <SoundRecordingEdition><ResourceId><ISRC>GBAYE2600001</ISRC></ResourceId></SoundRecordingEdition>
      <WorkId><ISWC>T-123.456.789-4</ISWC></WorkId>
      <DisplayTitleText>Harbour Lights</DisplayTitleText>
      <ResourceRightsController>
        <RightsControllerPartyReference>PLabel</RightsControllerPartyReference>
        <RightsControlType>RightsController</RightsControlType>
        <RightSharePercentage>80</RightSharePercentage>
      </ResourceRightsController>
      <ResourceRightsController>
        <RightsControllerPartyReference>PDist</RightsControllerPartyReference>
        <RightsControlType>RightsController</RightsControlType>
        <RightSharePercentage>20</RightSharePercentage>
        <DelegatedUsageRights><TerritoryOfRightsDelegation>DACH</TerritoryOfRightsDelegation></DelegatedUsageRights>
      </ResourceRightsController>
      <Contributor><ContributorPartyReference>PWriter</ContributorPartyReference><Role>Composer</Role></Contributor>
    </SoundRecording>
  </ResourceList>
  <ReleaseList>
    <Release><ReleaseReference>R0</ReleaseReference><DisplayTitleText>Harbour Lights</DisplayTitleText>
      <ResourceGroup><ResourceGroupContentItem><ReleaseResourceReference>A1</ReleaseResourceReference>
      </ResourceGroupContentItem></ResourceGroup></Release>
  </ReleaseList>
  <DealList>
    <ReleaseDeal><DealReleaseReference>R0</DealReleaseReference>
      <Deal><DealTerms><TerritoryCode>Worldwide</TerritoryCode><ExcludedTerritoryCode>JP</ExcludedTerritoryCode>
        <ValidityPeriod><StartDate>2026-03-01</StartDate></ValidityPeriod></DealTerms></Deal>
    </ReleaseDeal>
  </DealList>
</ern:NewReleaseMessage>
"""


def test_ern_yields_parties_recording_work_and_master_shares() -> None:
    batch = parse_ern(ERN)
    (recording,) = batch.recordings
    (work,) = batch.works
    writer = next(p for p in batch.parties if p.name == "Ada Writer")
    assert recording.isrc == "GBAYE2600001" and recording.work_id == work.id
    assert work.iswc == "T1234567894" and work.writer_ids == (writer.id,)
    assert writer.ipi == "00012345678"
    label, dist = batch.control
    assert (label.share_bp, dist.share_bp) == (8_000, 2_000)
    assert label.territories.exclude == ("JP",)
    assert label.period.start == date(2026, 3, 1)
    assert dist.territories.include == ("DACH",)


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        (b"<PartyReference>PDist</PartyReference>", "PartyList/Party[2]/PartyReference: missing"),
        (b"<RightsControllerPartyReference>PDist</RightsControllerPartyReference>",
         "ResourceList/SoundRecording[1]/ResourceRightsController[2]/RightsControllerPartyReference: "
         "no Party with PartyReference 'PX'"),
        (b"<RightSharePercentage>20</RightSharePercentage>",
         "ResourceList/SoundRecording[1]/ResourceRightsController[2]/RightSharePercentage: 'lots' is not"),
        (b"<StartDate>2026-03-01</StartDate>",
         "DealList/ReleaseDeal[1]/Deal[1]/DealTerms/ValidityPeriod/StartDate: 'soon' is not a date"),
        (b"<DealReleaseReference>R0</DealReleaseReference>",
         "DealList/ReleaseDeal[1]/DealReleaseReference: no Release 'R9'"),
    ],
)  # fmt: skip
def test_ern_errors_name_the_element(broken: bytes, error: str) -> None:
    replacement = {
        b"<PartyReference>PDist</PartyReference>": b"",
        b"<RightsControllerPartyReference>PDist</RightsControllerPartyReference>":
            b"<RightsControllerPartyReference>PX</RightsControllerPartyReference>",
        b"<RightSharePercentage>20</RightSharePercentage>": b"<RightSharePercentage>lots</RightSharePercentage>",
        b"<StartDate>2026-03-01</StartDate>": b"<StartDate>soon</StartDate>",
        b"<DealReleaseReference>R0</DealReleaseReference>": b"<DealReleaseReference>R9</DealReleaseReference>",
    }[broken]  # fmt: skip
    with pytest.raises(ImportFailed) as failed:
        parse_ern(ERN.replace(broken, replacement))
    assert any(e.startswith(error) for e in failed.value.errors), failed.value.errors


def test_ern_with_external_entity_is_refused() -> None:
    evil = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<NewReleaseMessage><PartyList><Party><PartyName><FullName>&x;</FullName></PartyName></Party></PartyList>
</NewReleaseMessage>"""
    with pytest.raises(ImportFailed, match="refused for safety"):
        parse_ern(evil)


def test_ern_that_is_not_xml_or_not_a_release_is_refused() -> None:
    with pytest.raises(ImportFailed, match="not well-formed XML"):
        parse_ern(b"<NewReleaseMessage>")
    with pytest.raises(ImportFailed, match="expected an ERN NewReleaseMessage"):
        parse_ern(b"<PurgeReleaseMessage/>")


def _controllers(*controllers: bytes) -> bytes:
    start = ERN.index(b"<ResourceRightsController>")
    end = ERN.rindex(b"</ResourceRightsController>") + len(b"</ResourceRightsController>")
    return ERN[:start] + b"".join(controllers) + ERN[end:]


def test_ern_411_role_element_is_read_so_an_administrator_owns_nothing() -> None:
    batch = parse_ern(_controllers(
        b"<ResourceRightsController><RightsControllerPartyReference>PLabel</RightsControllerPartyReference>"
        b"<RightsControllerRole>RightsController</RightsControllerRole></ResourceRightsController>",
        b"<ResourceRightsController><RightsControllerPartyReference>PDist</RightsControllerPartyReference>"
        b"<RightsControllerRole>RoyaltyAdministrator</RightsControllerRole></ResourceRightsController>",
    ))  # fmt: skip
    label = next(p for p in batch.parties if p.name == "Northern Lights Records")
    dist = next(p for p in batch.parties if p.name == "Far Shore Music")
    (owner,) = batch.control
    assert (owner.party_id, owner.share_bp) == (label.id, 10_000)
    (administration,) = batch.administration
    assert (administration.administrator_id, administration.administered_id) == (dist.id, label.id)


def test_ern_unknown_share_is_recorded_as_unknown_not_as_ownership() -> None:
    batch = parse_ern(_controllers(
        b"<ResourceRightsController><RightsControllerPartyReference>PLabel</RightsControllerPartyReference>"
        b"<RightsControlType>RightsController</RightsControlType><RightShareUnknown>true</RightShareUnknown>"
        b"</ResourceRightsController>",
    ))  # fmt: skip
    assert batch.control == ()
    (unknown,) = batch.unknown_shares
    assert unknown.subject_id == batch.recordings[0].id
    assert any("share of the master is unknown" in w for w in batch.warnings)


def test_ern_every_deal_and_numeric_tis_territory_is_read() -> None:
    deals = (
        b"<Deal><DealTerms><TerritoryCode>276</TerritoryCode><TerritoryCode>040</TerritoryCode>"
        b"<ValidityPeriod><StartDate>2026-03-01</StartDate></ValidityPeriod></DealTerms></Deal>"
        b"<Deal><DealTerms><TerritoryCode>US</TerritoryCode>"
        b"<ValidityPeriod><StartDate>2025-01-01</StartDate></ValidityPeriod></DealTerms></Deal>"
    )
    start, end = ERN.index(b"<Deal>"), ERN.index(b"</Deal>") + len(b"</Deal>")
    batch = parse_ern(ERN[:start] + deals + ERN[end:])
    (release,) = batch.releases
    assert release.territories is not None and release.territories.countries() == {"DE", "AT", "US"}
    assert release.period is not None and release.period.start == date(2025, 1, 1)
    numeric = parse_ern(ERN.replace(b"<TerritoryCode>Worldwide", b"<TerritoryCode>2136"))
    assert numeric.releases[0].territories == parse_ern(ERN).releases[0].territories


@pytest.mark.parametrize(
    ("before", "after", "error"),
    [
        (b"<ISRC>GBAYE2600001</ISRC>", b"<ISRC>GB-AYE</ISRC>",
         "ResourceList/SoundRecording[1]/ResourceId/ISRC: 'GB-AYE' is not an ISRC"),
        (b"<ISWC>T-123.456.789-4</ISWC>", b"<ISWC>T-123.456.789-0</ISWC>",
         "ResourceList/SoundRecording[1]/WorkId/ISWC: 'T-123.456.789-0' is not a valid ISWC: its check digit"),
        (b"<IpiNameNumber>00012345678</IpiNameNumber>", b"<IpiNameNumber>I-12</IpiNameNumber>",
         "PartyList/Party[3]/PartyId[1]/IpiNameNumber: 'I-12' is not an IPI name number"),
    ],
)  # fmt: skip
def test_ern_invalid_identifier_is_refused_naming_its_element(
    before: bytes, after: bytes, error: str
) -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_ern(ERN.replace(before, after))
    assert any(e.startswith(error) for e in failed.value.errors), failed.value.errors


def test_ern_isrc_is_normalised() -> None:
    batch = parse_ern(ERN.replace(b"<ISRC>GBAYE2600001</ISRC>", b"<ISRC>gb-aye-26-00001</ISRC>"))
    assert batch.recordings[0].isrc == "GBAYE2600001"
