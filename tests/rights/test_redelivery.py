"""Re-delivery over HTTP is an update: the DDEX samples delivered as 4.1.1, then 4.2, then 4.3 leave one
record each; a share delivered again replaces the one before; more than 100 % is refused."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import defusedxml.ElementTree as SafeElementTree
import pytest

from rights import identifiers
from tests.conftest import SignedIn, SignIn
from tests.rights.test_imports import ERN

SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "ddex" / "ern"
DDEX = "/api/rights/imports/ddex"
XML = {"content-type": "application/xml"}
DELIVERED = ["1 Audio.xml", "3 MixedMedia.xml", "4 SimpleAudioSingle.xml", "6 Ringtone.xml", "8 DjMix.xml"]


async def _import(holder: SignedIn, data: bytes) -> dict[str, int]:
    response = await holder.client.post(DDEX, content=data, headers=XML)
    assert response.status_code == 201, response.text
    report: dict[str, int] = response.json()
    return report


def _isrcs(data: bytes) -> set[str]:
    root = SafeElementTree.fromstring(data)
    return {
        identifiers.isrc(isrc.text or "")
        for recording in root.iter("SoundRecording")
        for isrc in recording.iter("ISRC")
    }


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the DDEX samples are not at {SAMPLES}")
async def test_411_then_42_then_43_deliveries_leave_no_duplicates(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    counts = []
    for version in ("411", "42", "43"):
        for name in DELIVERED:
            report = await _import(label, (SAMPLES / version / name).read_bytes())
            if version != "411":
                assert report["recordings_created"] == 0 and report["parties_created"] == 0, (version, name)
                assert report["releases_created"] == 0, (version, name)
        counts.append(
            await pg_pool.fetchrow(
                """SELECT (SELECT count(*) FROM rights_recordings WHERE organisation_id = $1) AS recordings,
                          (SELECT count(*) FROM rights_parties WHERE organisation_id = $1) AS parties,
                          (SELECT count(*) FROM rights_releases WHERE organisation_id = $1) AS releases""",
                label.principal.organisation_id,
            )
        )
    assert counts[0] == counts[1] == counts[2]
    isrcs = set().union(*(_isrcs((SAMPLES / "43" / name).read_bytes()) for name in DELIVERED))
    stored = await pg_pool.fetch(
        "SELECT isrc FROM rights_recordings WHERE organisation_id = $1 AND isrc IS NOT NULL",
        label.principal.organisation_id,
    )
    assert {r["isrc"] for r in stored} == isrcs


def _unique(ern: bytes) -> bytes:
    digits = str(secrets.randbelow(10**7)).zfill(7).encode()
    return ern.replace(b"GBAYE2600001", b"GBAYE" + digits).replace(b"00012345678", b"0001" + digits)


async def test_a_share_delivered_again_replaces_the_one_before(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    ern = _unique(ERN)
    first = await _import(label, ern)
    again = await _import(label, ern)
    assert (first["shares"], first["shares_replaced"]) == (2, 0)
    assert (again["shares"], again["shares_replaced"], again["recordings_created"]) == (2, 2, 0)
    assert again["parties_created"] == 0 and again["parties_matched"] == 3
    total = await pg_pool.fetchval(
        """SELECT sum(c.share_bp) FROM rights_control c JOIN rights_recordings r ON r.id = c.recording_id
            WHERE r.organisation_id = $1 AND 'FR' = ANY(c.countries)""",
        label.principal.organisation_id,
    )
    assert total == 8_000


async def test_a_delivery_passing_100_percent_is_refused_and_stores_nothing(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    ern = _unique(ERN).replace(b"<RightSharePercentage>80</RightSharePercentage>",
                               b"<RightSharePercentage>60</RightSharePercentage>")  # fmt: skip
    await _import(label, ern)
    wider = ern.replace(b"<TerritoryOfRightsDelegation>DACH</TerritoryOfRightsDelegation>",
                        b"<TerritoryOfRightsDelegation>EU</TerritoryOfRightsDelegation>")  # fmt: skip
    wider = wider.replace(b"<RightSharePercentage>20</RightSharePercentage>",
                          b"<RightSharePercentage>60</RightSharePercentage>")  # fmt: skip
    response = await label.client.post(DDEX, content=wider, headers=XML)
    assert response.status_code == 409, response.text
    # the label's 60 % is replaced (same scope); the stored DACH 20 % stays beside the new EU 60 %
    assert "master shares of 'Harbour Lights' add up to 140 % in AT, DE" in response.json()["detail"]
    shares = await pg_pool.fetchval(
        """SELECT count(*) FROM rights_control c JOIN rights_recordings r ON r.id = c.recording_id
            WHERE r.organisation_id = $1""",
        label.principal.organisation_id,
    )
    assert shares == 2
