"""The ownership rule over HTTP: only the organisation controlling a track, recording or work writes its
shares, whether by the API, a split sheet or a DDEX file; imports that name someone else's recording or
work become disputed claims that change nothing until the owner accepts them."""

from __future__ import annotations

import secrets
from typing import Any

from tests.conftest import SignedIn, SignIn
from tests.rights.test_api import POLICY, _party, _share, _track
from tests.rights.test_imports import ERN


def _isrc() -> str:
    return "GBAYE" + str(secrets.randbelow(10**7)).zfill(7)


async def _upload_sheet(holder: SignedIn, sheet: str) -> Any:
    response = await holder.client.post("/api/rights/imports/split-sheet", content=sheet.encode(),
                                        headers={"content-type": "text/csv"})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


async def _master_holders(holder: SignedIn, track: str, territory: str) -> dict[str, float]:
    picture = await holder.client.get(
        f"/api/rights/tracks/{track}/ownership", params={"territories": territory}
    )
    assert picture.status_code == 200, picture.text
    return {
        h["party_name"]: h["share_bp"]
        for s in picture.json()["slices"]
        if s["right"] == "master"
        for h in s["holdings"]
    }


async def _label_track_with_isrc(label: SignedIn, share_percent: int = 100) -> tuple[str, str, str]:
    """A label track whose recording carries an ISRC, the label's party holding `share_percent` of the master."""
    track, isrc = await _track(label), _isrc()
    name = f"Label {secrets.token_hex(3)}"
    await _upload_sheet(label, "right,party,share,isrc,recording_title,track_id\n"
                               f"master,{name},{share_percent},{isrc},Harbour Lights,{track}\n")  # fmt: skip
    return track, isrc, name


async def test_a_share_on_another_organisations_track_is_refused_and_the_owners_share_still_fits(
    sign_in: SignIn,
) -> None:
    owner, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    track = await _track(owner)
    rival_party = await _party(rival, "Rival Records")

    before = await _share(rival.client, track, rival_party, "master", 10_000)
    assert before.status_code == 403
    assert "belongs to another organisation" in before.json()["detail"]

    owner_party = await _party(owner, "Owner Records")
    assert (await _share(owner.client, track, owner_party, "master", 10_000)).status_code == 201
    after = await _share(rival.client, track, rival_party, "publishing", 5_000)
    assert after.status_code == 403
    assert "controlled by another organisation" in after.json()["detail"]
    assert await _master_holders(owner, track, "US") == {"Owner Records": 10_000}


async def test_a_policy_for_another_organisations_track_is_refused(sign_in: SignIn) -> None:
    owner, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    track = await _track(owner)
    rival_party = await _party(rival, "Rival Policy Party")
    response = await rival.client.put("/api/rights/policies",
                                      json={"party_id": rival_party, "track_id": track, **POLICY})  # fmt: skip
    assert response.status_code == 403 and "another organisation" in response.json()["detail"]


async def test_split_sheet_naming_another_labels_isrc_records_a_claim_that_changes_nothing(
    sign_in: SignIn,
) -> None:
    label, publisher = await sign_in("rights_holder"), await sign_in("rights_holder")
    track, isrc, label_name = await _label_track_with_isrc(label)

    report = await _upload_sheet(publisher, "right,party,share,isrc,recording_title,territories\n"
                                            f"master,Grabbing Songs,100,{isrc},Harbour Lights,US\n")  # fmt: skip
    assert (report["shares"], report["disputed_claims"]) == (0, 1)
    assert await _master_holders(label, track, "US") == {label_name: 10_000}

    (claim,) = (await label.client.get("/api/rights/claims")).json()
    assert claim["party_name"] == "Grabbing Songs" and claim["source"] == "split_sheet"
    assert claim["subject_title"] == "Harbour Lights" and claim["share"]["share_bp"] == 10_000
    assert (await publisher.client.get("/api/rights/claims")).json() == []


async def test_accepting_a_claim_writes_the_share_within_one_hundred_percent(sign_in: SignIn) -> None:
    label, claimant = await sign_in("rights_holder"), await sign_in("rights_holder")
    track, isrc, label_name = await _label_track_with_isrc(label, share_percent=60)
    await _upload_sheet(claimant, "right,party,share,isrc,recording_title,territories\n"
                                  f"master,Fair Co-owner,40,{isrc},Harbour Lights,US\n"
                                  f"master,Greedy Co-owner,50,{isrc},Harbour Lights,FR\n")  # fmt: skip
    claims = {c["party_name"]: c["id"] for c in (await label.client.get("/api/rights/claims")).json()}

    not_theirs = await claimant.client.post(f"/api/rights/claims/{claims['Fair Co-owner']}/accept")
    assert not_theirs.status_code == 404
    accepted = await label.client.post(f"/api/rights/claims/{claims['Fair Co-owner']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert await _master_holders(label, track, "US") == {label_name: 6_000, "Fair Co-owner": 4_000}

    over = await label.client.post(f"/api/rights/claims/{claims['Greedy Co-owner']}/accept")
    assert over.status_code == 409 and "add up to 110 %" in over.json()["detail"]
    assert await _master_holders(label, track, "FR") == {label_name: 6_000}
    rejected = await label.client.post(f"/api/rights/claims/{claims['Greedy Co-owner']}/reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    again = await label.client.post(f"/api/rights/claims/{claims['Fair Co-owner']}/accept")
    assert again.status_code == 409
    assert (await label.client.get("/api/rights/claims")).json() == []


async def test_split_sheet_naming_another_publishers_iswc_records_a_claim(sign_in: SignIn) -> None:
    publisher, label = await sign_in("rights_holder"), await sign_in("rights_holder")
    iswc = f"T-{secrets.randbelow(10**9):09d}-0"
    await _upload_sheet(
        publisher, f"right,party,share,iswc,work_title\npublishing,Harbour Songs,100,{iswc},Song\n"
    )
    report = await _upload_sheet(
        label, f"right,party,share,iswc,work_title\npublishing,Label Itself,100,{iswc},Song\n"
    )
    assert (report["shares"], report["disputed_claims"]) == (0, 1)
    (claim,) = (await publisher.client.get("/api/rights/claims")).json()
    assert claim["party_name"] == "Label Itself" and claim["share"]["right"] == "publishing"


async def test_ddex_file_carrying_another_labels_isrc_takes_over_nothing(sign_in: SignIn) -> None:
    label, publisher = await sign_in("rights_holder"), await sign_in("rights_holder")
    track, isrc, label_name = await _label_track_with_isrc(label)
    ern = ERN.replace(b"GBAYE2600001", isrc.encode()).replace(b"T-123.456.789-0", b"")
    ern = ern.replace(b"00012345678", str(secrets.randbelow(10**11)).zfill(11).encode())
    response = await publisher.client.post("/api/rights/imports/ddex", content=ern,
                                           headers={"content-type": "application/xml"})  # fmt: skip
    assert response.status_code == 201, response.text
    assert (response.json()["shares"], response.json()["disputed_claims"]) == (0, 2)
    assert await _master_holders(label, track, "US") == {label_name: 10_000}
    sources = {c["source"] for c in (await label.client.get("/api/rights/claims")).json()}
    assert sources == {"ddex"}


async def test_a_file_cannot_say_who_administers_another_labels_recording(sign_in: SignIn) -> None:
    label, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    track, isrc, label_name = await _label_track_with_isrc(label)
    response = await rival.client.post(
        "/api/rights/imports/split-sheet",
        content=("right,party,share,isrc,recording_title,territories,administrator\n"
                 f"master,Rival Owner,100,{isrc},Harbour Lights,US,Rival Admin\n").encode(),
        headers={"content-type": "text/csv"},
    )  # fmt: skip
    assert response.status_code == 400
    assert (
        "the administration of the recording 'Harbour Lights' is for the organisation controlling it"
        in (response.json()["detail"])
    )
    assert (await label.client.get("/api/rights/claims")).json() == []
    assert await _master_holders(label, track, "US") == {label_name: 10_000}
