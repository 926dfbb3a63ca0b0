"""Licences over HTTP: anyone verifies, parties read, the licensee allow-lists channels and downloads."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from joserfc import jws
from joserfc.jwk import KeySet
from pypdf import PdfReader

from contracts import licences
from contracts.model import DealState, DownloadFile
from tests.conftest import SignIn
from tests.contracts.conftest import MakeLicensed, audit_kinds


async def test_the_jwks_publishes_the_public_key_to_anyone(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "Ed25519" and key["kid"]
    assert "d" not in key


async def test_anyone_verifies_a_licence_against_the_jwks_without_signing_in(
    client: httpx.AsyncClient, make_licensed: MakeLicensed
) -> None:
    licensed = await make_licensed()
    check = (await client.get(f"/api/licences/{licensed.licence.id}/verify")).json()
    assert check["status"] == "valid" and check["signature_valid"] is True
    assert check["terms"]["track"]["isrc"] == licensed.isrc
    assert check["terms"]["agreed"]["fee"] == {"amount": 123_450, "currency": "EUR"}
    assert check["audio_sha256"] == licensed.original.sha256
    # What a third party does with its own JOSE library: fetch the key set, check the JWS.
    keys = KeySet.import_key_set((await client.get(check["jwks_url"])).json())
    payload = jws.deserialize_compact(check["certificate"], keys, algorithms=["Ed25519"]).payload
    assert hashlib.sha256(licences.canonical_json(check["terms"])).hexdigest() == check["terms_sha256"]
    assert check["terms_sha256"].encode() in payload


async def test_the_verify_page_says_valid_then_revoked_after_a_refund(
    client: httpx.AsyncClient, make_licensed: MakeLicensed, pg_pool: asyncpg.Pool
) -> None:
    licensed = await make_licensed()
    page = await client.get(f"/licences/{licensed.licence.id}/verify")
    assert page.status_code == 200 and "This licence is valid." in page.text
    assert licensed.isrc in page.text and "1,234.50 EUR" in page.text
    async with pg_pool.acquire() as conn:
        await licences.revoke_licence(conn, licensed.deal.id, now=datetime.now(UTC))
    page = await client.get(f"/licences/{licensed.licence.id}/verify")
    assert "This licence was revoked" in page.text and "This licence is valid." not in page.text
    check = (await client.get(f"/api/licences/{licensed.licence.id}/verify")).json()
    assert check["status"] == "revoked" and check["revoked_at"] is not None


async def test_issuing_is_once_per_deal_and_the_terms_hash_is_audited(
    make_licensed: MakeLicensed, pg_pool: asyncpg.Pool
) -> None:
    licensed = await make_licensed()
    async with pg_pool.acquire() as conn:
        again = await licences.issue_licence(conn, licensed.deal, now=datetime.now(UTC))
    assert again.id == licensed.licence.id and again.certificate == licensed.licence.certificate
    issued = [
        payload for kind, payload in await audit_kinds(pg_pool, licensed.deal.id) if kind == "licence_issued"
    ]
    assert len(issued) == 1
    assert issued[0]["terms_sha256"] == licensed.licence.terms_sha256
    assert issued[0]["agreed_terms_sha256"] == licences.terms_hash(licensed.deal)


async def test_the_buyer_learns_the_licence_to_share_for_verification_from_its_deal(
    client: httpx.AsyncClient, make_licensed: MakeLicensed
) -> None:
    licensed = await make_licensed()
    view = (await licensed.buyer.client.get(f"/api/deals/{licensed.deal.id}")).json()
    assert view["licence_id"] == str(licensed.licence.id)
    check = (await client.get(f"/api/licences/{view['licence_id']}/verify")).json()
    assert check["status"] == "valid"


async def test_the_licence_is_shown_to_its_parties_only(make_licensed: MakeLicensed, sign_in: SignIn) -> None:
    licensed = await make_licensed()
    stranger = await sign_in("buyer")
    path = f"/api/licences/{licensed.licence.id}"
    assert (await licensed.buyer.client.get(path)).json()["certificate"] == licensed.licence.certificate
    assert (await licensed.seller.client.get(path)).status_code == 200
    assert (await stranger.client.get(path)).status_code == 404


async def test_allow_listed_channels_reissue_the_certificate_with_them(
    make_licensed: MakeLicensed, client: httpx.AsyncClient
) -> None:
    licensed = await make_licensed()
    urls = ["https://www.youtube.com/@brightside", "https://vimeo.com/brightside"]
    response = await licensed.buyer.client.put(
        f"/api/deals/{licensed.deal.id}/allow-list", json={"urls": urls}
    )
    assert response.status_code == 200 and response.json()["urls"] == urls
    reissued = (await licensed.buyer.client.get(f"/api/licences/{licensed.licence.id}")).json()
    assert reissued["version"] == 2 and reissued["allow_list"] == urls
    check = (await client.get(f"/api/licences/{licensed.licence.id}/verify")).json()
    assert check["signature_valid"] and check["allow_list"] == urls
    assert check["terms_sha256"] == licensed.licence.terms_sha256  # the terms never change


async def test_only_the_licensee_names_channels_and_only_web_addresses(make_licensed: MakeLicensed) -> None:
    licensed = await make_licensed()
    path = f"/api/deals/{licensed.deal.id}/allow-list"
    by_seller = await licensed.seller.client.put(path, json={"urls": ["https://example.com/a"]})
    assert by_seller.status_code == 403
    not_web = await licensed.buyer.client.put(path, json={"urls": ["javascript:alert(1)"]})
    assert not_web.status_code == 400 and "urls" in not_web.json()["detail"]
    too_many = await licensed.buyer.client.put(path, json={"urls": [f"https://e.com/{i}" for i in range(21)]})
    assert too_many.status_code == 400


async def test_the_licensee_downloads_the_original_and_the_agreement_and_each_is_audited(
    make_licensed: MakeLicensed, pg_pool: asyncpg.Pool
) -> None:
    licensed = await make_licensed()
    response = await licensed.buyer.client.post(f"/api/deals/{licensed.deal.id}/downloads")
    assert response.status_code == 200
    links = {link["file"]: link["url"] for link in response.json()}
    audio = await licensed.buyer.client.get(links["audio"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert (
        hashlib.sha256(audio.content).hexdigest() == licensed.original.sha256 == licensed.licence.audio_sha256
    )
    agreement = await licensed.buyer.client.get(links["agreement"])
    assert agreement.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(agreement.content)).pages)
    assert licensed.isrc in text and "1,234.50 EUR" in text and "Zoë Records" in " ".join(text.split())
    downloads = [
        p["file"] for kind, p in await audit_kinds(pg_pool, licensed.deal.id) if kind == "downloaded"
    ]
    assert downloads == ["audio", "agreement"]


async def test_nobody_but_the_licensee_gets_links_or_uses_them(
    make_licensed: MakeLicensed, sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    licensed = await make_licensed()
    stranger = await sign_in("buyer")
    path = f"/api/deals/{licensed.deal.id}/downloads"
    assert (await licensed.seller.client.post(path)).status_code == 403
    assert (await stranger.client.post(path)).status_code == 404
    link = (await licensed.buyer.client.post(path)).json()[0]["url"]
    assert (await stranger.client.get(link)).status_code == 403
    assert (await client.get(link)).status_code == 401


async def test_an_expired_or_forged_link_is_refused(make_licensed: MakeLicensed) -> None:
    licensed = await make_licensed()
    expired = licences.link_token(
        licensed.licence.id, DownloadFile.AUDIO, datetime.now(UTC) - timedelta(seconds=1)
    )
    response = await licensed.buyer.client.get(f"/api/downloads/{expired}")
    assert response.status_code == 410 and "expired" in response.json()["detail"]
    claim, mac = licences.link_token(
        licensed.licence.id, DownloadFile.AUDIO, datetime.now(UTC) + timedelta(days=365)
    ).split(".")
    forged = f"{claim}.{mac[:-2]}AA"
    assert (await licensed.buyer.client.get(f"/api/downloads/{forged}")).status_code == 403
    assert (await licensed.buyer.client.get("/api/downloads/not-a-token")).status_code == 403


async def test_a_refund_revokes_the_licence_and_its_links(
    make_licensed: MakeLicensed, pg_pool: asyncpg.Pool
) -> None:
    licensed = await make_licensed()
    link = (await licensed.buyer.client.post(f"/api/deals/{licensed.deal.id}/downloads")).json()[0]["url"]
    async with pg_pool.acquire() as conn:
        await licences.revoke_licence(conn, licensed.deal.id, now=datetime.now(UTC))
        await conn.execute("UPDATE deals SET state = 'refunded' WHERE id = $1", licensed.deal.id)
    gone = await licensed.buyer.client.get(link)
    assert gone.status_code == 410 and "revoked" in gone.json()["detail"]
    assert (await licensed.buyer.client.post(f"/api/deals/{licensed.deal.id}/downloads")).status_code == 409


async def test_downloads_open_only_once_the_deal_is_licensed(make_licensed: MakeLicensed) -> None:
    licensed = await make_licensed(state=DealState.PAID)
    response = await licensed.buyer.client.post(f"/api/deals/{licensed.deal.id}/downloads")
    assert response.status_code == 409 and "licensed" in response.json()["detail"]


async def test_the_agreement_page_is_for_the_parties(make_licensed: MakeLicensed, sign_in: SignIn) -> None:
    licensed = await make_licensed()
    page = await licensed.buyer.client.get(f"/deals/{licensed.deal.id}/agreement")
    assert page.status_code == 200 and licensed.isrc in page.text and "Zoë Records" in page.text
    assert "Get download links" in page.text
    seller_page = await licensed.seller.client.get(f"/deals/{licensed.deal.id}/agreement")
    assert seller_page.status_code == 200 and "Get download links" not in seller_page.text
    stranger = await sign_in("buyer")
    assert (await stranger.client.get(f"/deals/{licensed.deal.id}/agreement")).status_code == 404


async def test_a_certificate_altered_in_the_register_reads_as_untrustworthy(
    client: httpx.AsyncClient, make_licensed: MakeLicensed, pg_pool: asyncpg.Pool
) -> None:
    licensed, other = await make_licensed(), await make_licensed()
    async with (
        pg_pool.acquire() as conn
    ):  # someone with database access swaps in another licence's certificate
        await conn.execute(
            "UPDATE licences SET certificate = $2 WHERE id = $1",
            licensed.licence.id,
            other.licence.certificate,
        )
    check = (await client.get(f"/api/licences/{licensed.licence.id}/verify")).json()
    assert check["signature_valid"] is False and "another licence" in check["signature_problem"]
    page = await client.get(f"/licences/{licensed.licence.id}/verify")
    assert "cannot be trusted" in page.text and "This licence is valid." not in page.text
