"""The rights API over HTTP: authorisation, conflicts, import atomicity, the graph query, the page."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import httpx

from tests.conftest import SignedIn, SignIn


async def _track(holder: SignedIn, title: str = "Harbour Lights") -> str:
    response = await holder.client.post("/api/rights/tracks/", json={"title": title, "artist": "Test Artist"})
    assert response.status_code == 201, response.text
    track_id: str = response.json()["id"]
    return track_id


async def _party(holder: SignedIn, name: str, **extra: Any) -> str:
    response = await holder.client.post("/api/rights/parties", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    party_id: str = response.json()["id"]
    return party_id


async def _share(
    client: httpx.AsyncClient, track: str, party: str, right: str, bp: int, **extra: Any
) -> httpx.Response:
    return await client.post(f"/api/rights/tracks/{track}/shares",
                             json={"party_id": party, "right": right, "share_bp": bp, **extra})  # fmt: skip


POLICY = {
    "mechanisms": {"online_ads": ["fixed_price", "vickrey"]},
    "rate_card": {"base": {"amount": 100_000, "currency": "EUR"}, "media_bp": {"online_ads": 10_000}},
    "floor": {"amount": 50_000, "currency": "EUR"},
    "automated_media": ["online_ads"],
}
USAGE = {"media": "online_ads", "territories": ["DE"], "term_months": 12, "start": "2026-12-01"}


async def test_owner_records_shares_and_policies_and_the_track_clears(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    track = await _track(label)
    party = await _party(label, "Northern Test Records")
    assert (await _share(label.client, track, party, "master", 10_000)).status_code == 201
    shared = await _share(label.client, track, party, "publishing", 10_000)
    assert shared.status_code == 201 and shared.json()["gaps"] == []
    policy = await label.client.put("/api/rights/policies", json={"party_id": party, **POLICY})
    assert policy.status_code == 200, policy.text
    buyer = await sign_in("buyer")
    answer = await buyer.client.post(f"/api/rights/tracks/{track}/clearance", json=USAGE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "clearable_now"
    assert body["mechanisms"] == ["fixed_price", "vickrey"]
    assert body["price"]["list_price"] == {"amount": 200_000, "currency": "EUR"}
    picture = await buyer.client.get(f"/api/rights/tracks/{track}/ownership", params={"territories": "DACH"})
    assert [s["territory"] for s in picture.json()["slices"]] == ["DACH", "DACH"]


async def test_rights_holder_cannot_change_another_organisations_shares_or_policies(sign_in: SignIn) -> None:
    owner, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    track = await _track(owner)
    party = await _party(owner, "Owner Party")
    share = (await _share(owner.client, track, party, "master", 5_000)).json()["share"]["id"]

    claim = await _share(rival.client, track, party, "master", 5_000)
    assert claim.status_code == 403 and "not managed by your organisation" in claim.json()["detail"]
    policy = await rival.client.put("/api/rights/policies", json={"party_id": party, **POLICY})
    assert policy.status_code == 403
    removal = await rival.client.delete(f"/api/rights/shares/{share}")
    assert removal.status_code == 403
    delegation = await rival.client.post("/api/rights/administration",
                                         json={"administrator_id": party, "administered_id": party})  # fmt: skip
    assert delegation.status_code in (400, 403)
    assert (await owner.client.delete(f"/api/rights/shares/{share}")).status_code == 204


async def test_buyers_cannot_manage_rights(sign_in: SignIn) -> None:
    buyer = await sign_in("buyer")
    response = await buyer.client.post("/api/rights/parties", json={"name": "Sneaky"})
    assert response.status_code == 403


async def test_overlapping_share_is_a_conflict_and_is_not_stored(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    track = await _track(label)
    party = await _party(label, "Label A")
    other = await _party(label, "Label B")
    assert (await _share(label.client, track, party, "master", 10_000)).status_code == 201
    overlap = await _share(label.client, track, other, "master", 2_000, territories={"include": ["FR"]})
    assert overlap.status_code == 409
    assert "claims on the master in FR add up to 120 %" in overlap.json()["detail"]
    picture = (
        await label.client.get(f"/api/rights/tracks/{track}/ownership", params={"territories": "FR"})
    ).json()
    assert [h["party_name"] for s in picture["slices"] if s["right"] == "master" for h in s["holdings"]] == [
        "Label A"
    ]


async def test_bad_input_is_a_problem_not_a_crash(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    track = await _track(label)
    party = await _party(label, "Label C")
    unknown = await label.client.post(
        f"/api/rights/tracks/{track}/clearance", json={**USAGE, "territories": ["XX"]}
    )
    assert unknown.status_code == 400 and "'XX'" in unknown.json()["detail"]
    too_long = await label.client.post(
        f"/api/rights/tracks/{track}/clearance", json={**USAGE, "term_months": 500}
    )
    assert too_long.status_code == 400
    assert (await _share(label.client, track, party, "master", 0)).status_code == 400
    assert (
        await label.client.get(f"/api/rights/tracks/{track}/ownership", params={"territories": "Mars"})
    ).status_code == 400
    missing = await label.client.post(
        "/api/rights/tracks/00000000-0000-0000-0000-000000000000/clearance", json=USAGE
    )
    assert missing.status_code == 404


async def _count(pool: asyncpg.Pool, name: str) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM rights_parties WHERE name = $1", name)
    return count


async def test_import_is_all_or_nothing(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    label, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    mine, theirs = await _track(label), await _track(rival)
    writer = f"Writer {secrets.token_hex(3)}"
    sheet = (
        "right,party,share,recording_title,work_title,track_id\n"
        f"master,{writer},100,Mine,Mine,{mine}\n"
        f"publishing,{writer},100,Mine,Mine,{mine}\n"
        f"master,{writer},100,Theirs,Theirs,{theirs}\n"
    )
    refused = await label.client.post("/api/rights/imports/split-sheet", content=sheet.encode(),
                                      headers={"content-type": "text/csv"})  # fmt: skip
    assert refused.status_code == 400
    assert "belongs to another organisation" in refused.json()["detail"]
    assert await _count(pg_pool, writer) == 0

    accepted = await label.client.post("/api/rights/imports/split-sheet", content="\n".join(sheet.splitlines()[:3]).encode(),
                                       headers={"content-type": "text/csv"})  # fmt: skip
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["shares"] == 2 and await _count(pg_pool, writer) == 1

    bad_line = await label.client.post("/api/rights/imports/split-sheet", content=b"right,party,share\nsync,X,10\n",
                                       headers={"content-type": "text/csv"})  # fmt: skip
    assert bad_line.status_code == 400 and "line 2" in bad_line.json()["detail"]


async def test_ddex_import_rejects_entities(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    evil = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><NewReleaseMessage/>'
    response = await label.client.post(
        "/api/rights/imports/ddex", content=evil, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 400 and "refused for safety" in response.json()["detail"]


async def test_graph_query_finds_tracks_co_written_by_a_and_published_by_b_in_europe(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label, publisher = await sign_in("rights_holder"), await sign_in("rights_holder")
    wanted, unpublished = await _track(label, "Wanted"), await _track(label, "Unpublished")
    tag = secrets.token_hex(3)
    ada = f"Ada {tag}"
    sheet = (
        "right,party,share,recording_title,iswc,work_title,track_id,territories\n"
        f"master,Label {tag},100,Wanted,,Wanted {tag},{wanted},WORLD\n"
        f"publishing,{ada},100,Wanted,,Wanted {tag},{wanted},WORLD\n"
        f"master,Label {tag},100,Unpublished,,Unpublished {tag},{unpublished},WORLD\n"
        f"publishing,{ada},60,Unpublished,,Unpublished {tag},{unpublished},WORLD\n"
    )
    response = await label.client.post("/api/rights/imports/split-sheet", content=sheet.encode())
    assert response.status_code == 201, response.text
    ada_id = await pg_pool.fetchval("SELECT id FROM rights_parties WHERE name = $1", ada)
    works = await pg_pool.fetch("SELECT id, title FROM rights_works WHERE title LIKE $1", f"% {tag}")
    async with pg_pool.acquire() as conn:
        for work in works:
            await conn.execute("INSERT INTO rights_work_writers (work_id, party_id, position) VALUES ($1, $2, 0)",
                               work["id"], ada_id)  # fmt: skip
    found = await publisher.client.get("/api/rights/tracks/", params={"writer": str(ada_id), "publisher": str(ada_id),
                                                                      "territories": "EUROPE"})  # fmt: skip
    assert found.status_code == 200, found.text
    assert [t["title"] for t in found.json()] == ["Wanted"]


async def test_track_rights_page_shows_bars_and_answers_the_form(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    track = await _track(label)
    party = await _party(label, "Page Label")
    await _share(label.client, track, party, "master", 7_500)
    page = await label.client.get(f"/tracks/{track}/rights", params={"media": "tv_ads", "territories": "US"},
                                  headers={"accept": "text/html"})  # fmt: skip
    assert page.status_code == 200
    assert 'class="split"' in page.text and "25 % unknown" in page.text
    assert "Blocked" in page.text and "100 % of the publishing in US has no known owner" in page.text
    bad = await label.client.get(f"/tracks/{track}/rights", params={"media": "tv_ads", "territories": "XX"},
                                 headers={"accept": "text/html"})  # fmt: skip
    assert bad.status_code == 200 and "unknown territory" in bad.text
