"""The rights holder's workspace over HTTP: every form post goes through the same services as the API,
refusals come back as the form with a sentence and a 4xx, and another organisation's track is refused."""

from __future__ import annotations

import json
import re
from uuid import UUID

import asyncpg
import httpx

from rights import service as rights
from rights.terms import Money
from tests.auction.live import new_track
from tests.conftest import SignedIn, SignIn
from tests.rights.test_ownership import _label_track_with_isrc, _upload_sheet

HTML = {"accept": "text/html"}


async def _bare_track(pg_pool: asyncpg.Pool, owner: SignedIn, title: str = "Open Water") -> UUID:
    return await new_track(pg_pool, owner, title, clearable=False)


async def _party(holder: SignedIn, track: UUID, name: str) -> str:
    added = await holder.client.post(f"/workspace/tracks/{track}/parties", data={"name": name})
    assert added.status_code == 303, added.text
    parties = (await holder.client.get("/api/rights/parties")).json()
    party_id: str = next(p["id"] for p in parties if p["name"] == name)
    return party_id


def _alert(page: httpx.Response) -> str:
    found = re.search(r'<p class="alert" role="alert">(.*?)</p>', page.text, re.DOTALL)
    assert found, "the page shows no refusal"
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&")


async def _owned(pg_pool: asyncpg.Pool, track: UUID, right: str) -> dict[str, int]:
    async with pg_pool.acquire() as conn:
        held = await rights.track_rights(conn, track)
    return {held.party_name(e.party_id): e.share_bp for e in held.control if e.right.value == right}


# My catalogue


async def test_the_catalogue_lists_my_tracks_with_their_gaps_and_a_link_to_fix_them(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    mine = await _bare_track(pg_pool, label, "Lantern Street")
    complete = await new_track(pg_pool, label, "Every Owner Known")
    theirs = await _bare_track(pg_pool, rival, "Not Yours")

    page = await label.client.get("/workspace", headers=HTML)

    assert page.status_code == 200
    assert "Lantern Street" in page.text and "Every Owner Known" in page.text and "Not Yours" not in page.text
    assert "100 % of the master worldwide has no known owner" in page.text, re.findall(
        r"<li>(.*?)</li>", page.text
    )
    assert f'href="/workspace/tracks/{mine}">Fix the owners of Lantern Street' in page.text
    assert f'/workspace/tracks/{complete}">Fix' not in page.text
    assert "2 tracks, 1 with every owner known" in page.text
    assert str(theirs) not in page.text


async def test_a_half_owned_master_names_the_missing_share_and_territory(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    party = await _party(label, track, "Half Records")
    await label.client.post(f"/workspace/tracks/{track}/shares",
                            data={"right": "master", "territories": "DE", "party_1": party, "share_1": "50"})  # fmt: skip

    page = await label.client.get("/workspace", headers=HTML)

    assert "50 % of the master in DE has no known owner" in page.text, page.text


async def test_the_catalogue_shows_identifiers_and_a_buyer_cannot_open_it(sign_in: SignIn) -> None:
    label, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    _, isrc, _ = await _label_track_with_isrc(label)
    assert f"ISRC {isrc}" in (await label.client.get("/workspace", headers=HTML)).text
    refused = await buyer.client.get("/workspace", headers=HTML)
    assert refused.status_code == 403 and "rights holder" in refused.text


async def test_a_disputed_claim_is_accepted_from_the_catalogue_and_then_counts(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label, claimant = await sign_in("rights_holder"), await sign_in("rights_holder")
    track, isrc, label_name = await _label_track_with_isrc(label, share_percent=60)
    await _upload_sheet(claimant, "right,party,share,isrc,recording_title,territories\n"
                                  f"master,Fair Co-owner,40,{isrc},Harbour Lights,WORLD\n")  # fmt: skip
    page = await label.client.get("/workspace", headers=HTML)
    assert "Fair Co-owner</strong> claims 40 % of the master of “Harbour Lights”" in page.text
    (claim_id,) = re.findall(r'action="/workspace/claims/([0-9a-f-]+)/accept"', page.text)

    stolen = await claimant.client.post(f"/workspace/claims/{claim_id}/accept", headers=HTML)
    assert stolen.status_code == 404
    accepted = await label.client.post(f"/workspace/claims/{claim_id}/accept")

    assert accepted.status_code == 303 and accepted.headers["location"] == "/workspace?done=claim-accepted"
    assert await _owned(pg_pool, UUID(track), "master") == {label_name: 6_000, "Fair Co-owner": 4_000}
    after = await label.client.get(accepted.headers["location"], headers=HTML)
    assert "The claim is accepted" in after.text and "No claims are waiting for you." in after.text


# Owners and splits


async def test_a_split_entered_on_the_page_is_stored_for_every_row(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    ours, writer = await _party(label, track, "Our Label"), await _party(label, track, "Co-writer Ltd")

    saved = await label.client.post(f"/workspace/tracks/{track}/shares", data={
        "right": "publishing", "territories": "WORLD", "party_1": ours, "share_1": "66.67",
        "party_2": writer, "share_2": "33.33"})  # fmt: skip

    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=shares")
    assert await _owned(pg_pool, track, "publishing") == {"Our Label": 6_667, "Co-writer Ltd": 3_333}
    page = await label.client.get(saved.headers["location"], headers=HTML)
    assert "The shares are saved." in page.text
    assert "Remove Our Label's 66.67 % of the publishing" in page.text
    (first,) = re.findall(
        r'action="(/workspace/shares/[0-9a-f-]+/remove)"[^>]*>.{0,200}?Our Label', page.text
    )
    removed = await label.client.post(first, data={"track_id": str(track)})
    assert removed.status_code == 303
    assert await _owned(pg_pool, track, "publishing") == {"Co-writer Ltd": 3_333}


async def test_a_split_over_one_hundred_percent_is_refused_whole_with_a_sentence(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    ours, other = await _party(label, track, "Our Label"), await _party(label, track, "Other Co")

    typed = await label.client.post(f"/workspace/tracks/{track}/shares", headers=HTML, data={
        "right": "master", "party_1": ours, "share_1": "70", "party_2": other, "share_2": "40"})  # fmt: skip
    assert typed.status_code == 400
    assert _alert(typed) == "The shares you entered add up to 110 %, more than 100 %."
    assert 'value="70"' in typed.text, "what was typed is shown again"

    await label.client.post(
        f"/workspace/tracks/{track}/shares", data={"right": "master", "party_1": ours, "share_1": "70"}
    )
    with_stored = await label.client.post(f"/workspace/tracks/{track}/shares", headers=HTML, data={
        "right": "master", "territories": "FR", "party_1": other, "share_1": "20", "party_2": ours, "share_2": "20"})  # fmt: skip
    assert with_stored.status_code == 409
    assert "add up to 110 %" in _alert(with_stored)
    assert await _owned(pg_pool, track, "master") == {"Our Label": 7_000}, "neither row of the refused split"


async def test_unreadable_split_fields_are_named(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    party = await _party(label, track, "Our Label")
    cases = {
        (("share_1", "a lot"), ("party_1", party)): "Row 1 share: “a lot” is not a number.",
        (("share_1", "10.005"), ("party_1", party)): "Row 1 share: use at most two decimals (33.33 %).",
        (("share_2", "10"),): "Row 2: choose a party and enter its share.",
        (("share_1", "10"), ("party_1", party), ("territories", "ATLANTIS")): None,
    }
    for fields, sentence in cases.items():
        refused = await label.client.post(f"/workspace/tracks/{track}/shares", headers=HTML,
                                          data={"right": "master", **dict(fields)})  # fmt: skip
        assert refused.status_code == 400, refused.text
        if sentence is not None:
            assert _alert(refused) == sentence
        else:
            assert "ATLANTIS" in _alert(refused)


async def test_another_organisations_track_is_refused_from_every_workspace_page(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    owner, rival = await sign_in("rights_holder"), await sign_in("rights_holder")
    track = await new_track(pg_pool, owner, "Owner's Song")
    rival_track = await _bare_track(pg_pool, rival)
    rival_party = await _party(rival, rival_track, "Rival Records")
    writes: list[tuple[str, dict[str, str]]] = [
        ("shares", {"right": "master", "party_1": rival_party, "share_1": "10"}),
        ("parties", {"name": "Sneaky Party"}),
        ("policy", {"party_id": rival_party, "mechanism_online_ads_vickrey": "on"}),
        ("round", {"mechanism": "vickrey", "media": "online_ads", "price": "10.00"}),
    ]
    for path in ("", "/policy", "/round"):
        page = await rival.client.get(f"/workspace/tracks/{track}{path}", headers=HTML)
        assert page.status_code == 403 and "belongs to another organisation" in page.text
    for path, data in writes:
        refused = await rival.client.post(f"/workspace/tracks/{track}/{path}", data=data, headers=HTML)
        assert refused.status_code == 403, (path, refused.text)
        assert "belongs to another organisation; only it can change it" in refused.text
    async with pg_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM rounds WHERE track_id = $1", track) == 0
    assert "Rival Records" not in await _owned(pg_pool, track, "master")


# Licensing policy


POLICY_FORM = {
    "currency": "EUR", "mechanism_online_ads_vickrey": "on", "mechanism_online_ads_negotiation": "on",
    "mechanism_film_fixed_price": "on", "base": "1,500.00", "multiplier_film": "200", "exclusivity": "300",
    "floor": "500", "ceiling": "20000", "auto_accept": "4000", "window_hours": "48", "automated_online_ads": "on",
    "dynamic_pricing": "on",
}  # fmt: skip


async def test_a_policy_set_on_the_page_is_the_policy_in_force(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    party = await _party(label, track, "Our Label")
    await label.client.post(
        f"/workspace/tracks/{track}/shares", data={"right": "master", "party_1": party, "share_1": "100"}
    )

    saved = await label.client.post(
        f"/workspace/tracks/{track}/policy", data={"party_id": party, **POLICY_FORM}
    )

    assert saved.status_code == 303, saved.text
    async with pg_pool.acquire() as conn:
        (policy,) = (await rights.track_rights(conn, track)).policies
    assert {m.value: [x.value for x in chosen] for m, chosen in policy.mechanisms.items()} == {
        "online_ads": ["vickrey", "negotiation"], "film": ["fixed_price"]}  # fmt: skip
    assert policy.rate_card is not None and policy.rate_card.base.amount == 150_000
    assert {m.value: bp for m, bp in policy.rate_card.media_bp.items()} == {"film": 20_000}
    assert (policy.floor, policy.ceiling, policy.auto_accept) == tuple(
        Money(a, "EUR") for a in (50_000, 2_000_000, 400_000)
    )
    assert policy.negotiation_window_hours == 48 and policy.dynamic_pricing
    assert [m.value for m in policy.automated_media] == ["online_ads"]
    page = await label.client.get(saved.headers["location"], headers=HTML)
    assert "The licensing policy is saved" in page.text
    assert 'name="mechanism_film_fixed_price" id="mechanism_film_fixed_price" checked' in page.text
    assert 'name="base" inputmode="decimal" value="1500.00"' in page.text


async def test_each_of_my_parties_policies_is_shown_on_its_own(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    master, publishing = await _party(label, track, "Our Masters"), await _party(label, track, "Our Songs")
    for right, party in (("master", master), ("publishing", publishing)):
        added = await label.client.post(f"/workspace/tracks/{track}/shares",
                                        data={"right": right, "party_1": party, "share_1": "100"})  # fmt: skip
        assert added.status_code == 303
    for party, floor in ((master, "500"), (publishing, "700")):
        saved = await label.client.post(f"/workspace/tracks/{track}/policy",
                                        data={**POLICY_FORM, "party_id": party, "floor": floor})  # fmt: skip
        assert saved.status_code == 303 and saved.headers["location"].endswith(f"party={party}")
    for party, floor in ((master, "500.00"), (publishing, "700.00")):
        page = await label.client.get(
            f"/workspace/tracks/{track}/policy", params={"party": party}, headers=HTML
        )
        assert f'name="floor" inputmode="decimal" value="{floor}"' in page.text
        assert f'<option value="{party}" selected>' in page.text


async def test_a_policy_whose_ceiling_is_under_its_floor_is_refused(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    party = await _party(label, track, "Our Label")
    refused = await label.client.post(f"/workspace/tracks/{track}/policy", headers=HTML,
                                      data={"party_id": party, **POLICY_FORM, "ceiling": "100"})  # fmt: skip
    assert refused.status_code == 400
    assert _alert(refused) == "Ceiling: 100.00 EUR is under the floor of 500.00 EUR."
    async with pg_pool.acquire() as conn:
        assert (await rights.track_rights(conn, track)).policies == ()


# Opening a round


ROUND_FORM = {"mechanism": "vickrey", "media": "online_ads", "territories": "WORLD", "term_months": "12",
              "currency": "EUR", "price": "1000.00", "duration_minutes": "30"}  # fmt: skip


async def test_a_round_opened_from_the_page_leads_to_its_room(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    label = await sign_in("rights_holder")
    track = await new_track(pg_pool, label)

    opened = await label.client.post(f"/workspace/tracks/{track}/round",
                                     data={**ROUND_FORM, "soft_close": "on", "soft_window": "30"})  # fmt: skip

    assert opened.status_code == 303, opened.text
    round_id = opened.headers["location"].removeprefix("/rounds/")
    shown = (await label.client.get(f"/api/rounds/{round_id}")).json()
    assert shown["track_id"] == str(track) and shown["params"]["mechanism"] == "vickrey"
    assert shown["params"]["reserve"] == {"amount": 100_000, "currency": "EUR"}
    assert shown["params"]["soft_close"] == {
        "window_seconds": 30,
        "extension_seconds": 60,
        "max_extensions": 5,
    }


async def test_a_negotiation_round_takes_its_range_and_counter_strategy(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await new_track(pg_pool, label)
    opened = await label.client.post(f"/workspace/tracks/{track}/round", data={
        **ROUND_FORM, "mechanism": "negotiation", "price": "500", "ceiling": "5000", "auto_accept": "4000",
        "counter": "split", "response_hours": "12"})  # fmt: skip
    assert opened.status_code == 303, opened.text
    async with pg_pool.acquire() as conn:
        params = await conn.fetchval("SELECT params::text FROM rounds WHERE track_id = $1", track)
    terms = json.loads(params)
    assert terms["counter"] == {"strategy": "split_the_difference"}
    assert (terms["floor"]["amount"], terms["auto_accept_at"]["amount"], terms["ceiling"]["amount"]) == (
        50_000,
        400_000,
        500_000,
    )
    assert terms["response_seconds"] == 12 * 3600


async def test_a_round_on_a_track_without_owners_is_refused_with_clearances_reason(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await _bare_track(pg_pool, label)
    refused = await label.client.post(f"/workspace/tracks/{track}/round", data=ROUND_FORM, headers=HTML)
    assert refused.status_code == 409
    assert _alert(refused).startswith("A non-exclusive online ads licence worldwide from ")
    assert "cannot be sold now: 100 % of the master worldwide has no known owner" in _alert(refused)


async def test_a_second_exclusive_round_for_the_same_usage_is_refused_as_an_overlap(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    label = await sign_in("rights_holder")
    track = await new_track(pg_pool, label)
    exclusive = {**ROUND_FORM, "exclusive": "on", "territories": "EUROPE"}
    first = await label.client.post(f"/workspace/tracks/{track}/round", data=exclusive)
    assert first.status_code == 303, first.text
    second = await label.client.post(f"/workspace/tracks/{track}/round", data={**exclusive, "territories": "DE"},
                                     headers=HTML)  # fmt: skip
    assert second.status_code == 409
    assert "overlaps" in _alert(second)


async def test_round_form_mistakes_are_named(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    label = await sign_in("rights_holder")
    track = await new_track(pg_pool, label)
    cases = {
        "price": ("", "Reserve or start price: “” is not a number."),
        "duration_minutes": ("0", "Duration: enter a whole number from 1 to 43200."),
        "term_months": ("500", "Term: enter a whole number from 1 to 120."),
        "mechanism": ("lottery", "Mechanism: choose how the round sells the licence."),
        "start": ("tomorrow", "Licence starts: “tomorrow” is not a date (YYYY-MM-DD)."),
    }
    for field, (value, sentence) in cases.items():
        refused = await label.client.post(f"/workspace/tracks/{track}/round", headers=HTML,
                                          data={**ROUND_FORM, field: value})  # fmt: skip
        assert refused.status_code == 400, (field, refused.text)
        assert _alert(refused) == sentence
