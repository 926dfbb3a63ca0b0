"""Imported data belongs to the importing organisation and can be read back: recordings (those awaiting
audio too), works, parties, shares, and the history of imports with their reports."""

from __future__ import annotations

from tests.conftest import SignIn
from tests.rights.test_imports import ERN
from tests.rights.test_redelivery import DDEX, XML, _unique


async def test_an_imported_catalogue_is_the_importers_to_read_and_nobody_elses(sign_in: SignIn) -> None:
    label, other = await sign_in("rights_holder"), await sign_in("rights_holder")
    ern = _unique(ERN)
    imported = await label.client.post(DDEX, content=ern, headers=XML)
    assert imported.status_code == 201, imported.text

    recordings = (
        await label.client.get("/api/rights/catalogue/recordings", params={"awaiting_audio": "true"})
    ).json()
    assert [(r["title"], r["organisation_id"]) for r in recordings] == [
        ("Harbour Lights", str(label.principal.organisation_id))
    ]
    one = await label.client.get(f"/api/rights/catalogue/recordings/{recordings[0]['id']}")
    assert one.status_code == 200 and one.json()["isrc"] == recordings[0]["isrc"]
    assert (
        await other.client.get(f"/api/rights/catalogue/recordings/{recordings[0]['id']}")
    ).status_code == 404
    assert (await other.client.get("/api/rights/catalogue/recordings")).json() == []

    works = (await label.client.get("/api/rights/catalogue/works", params={"iswc": "T1234567894"})).json()
    assert [w["title"] for w in works] == ["Harbour Lights"]
    writers = (await label.client.get("/api/rights/catalogue/parties", params={"kind": "person"})).json()
    assert [p["name"] for p in writers] == ["Ada Writer"]
    shares = (
        await label.client.get("/api/rights/catalogue/shares", params={"subject_id": recordings[0]["id"]})
    ).json()
    assert sorted(s["share_bp"] for s in shares) == [2_000, 8_000]

    history = (await label.client.get("/api/rights/imports")).json()
    assert len(history) == 1 and history[0]["source"] == "ddex"
    assert history[0]["report"] == imported.json()
    assert (await label.client.get(f"/api/rights/imports/{history[0]['id']}")).json() == history[0]
    assert (await other.client.get(f"/api/rights/imports/{history[0]['id']}")).status_code == 404


async def test_a_refused_import_leaves_no_history(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    refused = await label.client.post(DDEX, content=b"<NewReleaseMessage>", headers=XML)
    assert refused.status_code == 400
    assert (await label.client.get("/api/rights/imports")).json() == []


async def test_the_api_document_offers_the_import_bodies_as_files(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    paths = (await label.client.get("/schema/openapi.json")).json()["paths"]
    assert "application/xml" in paths["/api/rights/imports/ddex"]["post"]["requestBody"]["content"]
    assert "text/csv" in paths["/api/rights/imports/split-sheet"]["post"]["requestBody"]["content"]


async def test_an_importer_can_delete_a_recording_it_imported_and_nobody_else_can(sign_in: SignIn) -> None:
    label, other = await sign_in("rights_holder"), await sign_in("rights_holder")
    assert (await label.client.post(DDEX, content=_unique(ERN), headers=XML)).status_code == 201
    (recording,) = (await label.client.get("/api/rights/catalogue/recordings")).json()
    path = f"/api/rights/catalogue/recordings/{recording['id']}"
    assert (await other.client.delete(path)).status_code == 403
    assert (await label.client.delete(path)).status_code == 204
    assert (await label.client.get("/api/rights/catalogue/recordings")).json() == []
    assert (await label.client.get("/api/rights/catalogue/shares")).json() == []
