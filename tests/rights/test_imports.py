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
        "line 8: unknown territory 'XX': use an ISO 3166-1 alpha-2 code, WORLD or one of "
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
      <WorkId><ISWC>T-123.456.789-0</ISWC></WorkId>
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
    assert work.iswc == "T-123.456.789-0" and work.writer_ids == (writer.id,)
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
         "DealList/ReleaseDeal[1]/ValidityPeriod/StartDate: 'soon' is not a date"),
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
