"""DDEX files an attacker or a careless exporter sends, met over HTTP: too large, the wrong ERN, the
same identifier twice."""

from __future__ import annotations

import secrets

from tests.conftest import SignIn
from tests.rights.test_imports import ERN

DDEX = "/api/rights/imports/ddex"
XML = {"content-type": "application/xml"}


async def test_ern_3_is_refused_by_its_namespace_before_it_is_read(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    ern_3 = ERN.replace(b"http://ddex.net/xml/ern/43", b"http://ddex.net/xml/ern/382")
    response = await label.client.post(DDEX, content=ern_3, headers=XML)
    assert response.status_code == 400
    assert "ERN 3 is not supported; send ERN 4" in response.json()["detail"]


async def test_a_ddex_message_over_its_own_size_limit_is_refused_with_413(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    padding = b"<!-- " + b"x" * (5 * 1024 * 1024) + b" -->"
    response = await label.client.post(DDEX, content=ERN.replace(b"<PartyList>", padding + b"<PartyList>"),
                                       headers=XML)  # fmt: skip
    assert response.status_code == 413
    assert response.json()["detail"] == "the request body is larger than 4 MiB"


async def test_two_parties_with_one_ipi_are_refused_naming_both(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    twin = (
        b"<Party><PartyReference>PTwin</PartyReference><PartyId><IpiNameNumber>00012345678</IpiNameNumber>"
        b"</PartyId><PartyName><FullName>Ada Twin</FullName></PartyName></Party></PartyList>"
    )
    response = await label.client.post(DDEX, content=ERN.replace(b"</PartyList>", twin), headers=XML)
    assert response.status_code == 400
    assert (
        "PartyList/Party[3] and PartyList/Party[4] have the same IPI 00012345678" in response.json()["detail"]
    )


async def test_two_recordings_with_one_isrc_are_refused_naming_both(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    start, end = ERN.index(b"<SoundRecording>"), ERN.index(b"</SoundRecording>") + len(b"</SoundRecording>")
    twin = ERN[start:end].replace(b"<ResourceReference>A1", b"<ResourceReference>A2")
    response = await label.client.post(DDEX, content=ERN[:end] + twin + ERN[end:], headers=XML)
    assert response.status_code == 400
    assert (
        "ResourceList/SoundRecording[1] and ResourceList/SoundRecording[2] have the same ISRC GBAYE2600001"
        in response.json()["detail"]
    )


async def test_a_well_formed_ern_4_message_still_imports(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    digits = str(secrets.randbelow(10**5)).zfill(5).encode()
    unique = ERN.replace(b"GBAYE2600001", b"GBAYE26" + digits).replace(b"00012345678", b"000123" + digits)
    response = await label.client.post(DDEX, content=unique, headers=XML)
    assert response.status_code == 201, response.text
