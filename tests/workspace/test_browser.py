"""A rights holder's whole setup in Chromium: enters owners and splits (watching the 100 % sum as it types),
sets a licensing policy and opens a round, from the workspace pages alone. Screenshots go to
test-artifacts/workspace/ (git-ignored), at desktop width and at 390 px."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from contracts import service as contracts
from rights import service as rights
from rights.terms import Money
from tests.auction.live import USAGE, eur, new_track
from tests.conftest import TEST_PASSWORD, SignedIn, SignIn
from tests.contracts.world import world

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "workspace"


async def _signed_in_page(browser: Browser, base: str, who: SignedIn, width: int) -> Page:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/auth/login", json={"email": who.email, "password": TEST_PASSWORD})
        response.raise_for_status()
        session = client.cookies["mp_session"]
    context = await browser.new_context(viewport={"width": width, "height": 900})
    await context.add_cookies([{"name": "mp_session", "value": session, "url": base}])
    return await context.new_page()


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _content_fits(page: Page) -> bool:
    """The page does not scroll sideways (a wide table scrolls inside its own box)."""
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)")
async def test_a_rights_holder_enters_splits_sets_a_policy_and_opens_a_round_from_the_pages(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    label = await sign_in("rights_holder")
    async with pg_pool.acquire() as conn:
        track = await rights.create_track(conn, owner_organisation_id=label.principal.organisation_id,
                                          title="Night Ferry", artist="The Harbour Band")  # fmt: skip
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )  # fmt: skip
        try:
            for width, suffix in ((1280, ""), (390, "-390")):
                page = await _signed_in_page(browser, live_server, label, width)
                await page.goto(f"{live_server}/workspace")
                await page.wait_for_selector("text=100 % of the master worldwide has no known owner")
                await _shot(page, f"1-catalogue{suffix}")
                assert await _content_fits(page), f"the catalogue is wider than {width} px"
                await page.close()

            page = await _signed_in_page(browser, live_server, label, 1280)
            await page.goto(f"{live_server}/workspace")
            await page.click("text=Fix the owners of Night Ferry")
            for name in ("Harbour Records", "Lyric House Publishing"):
                await page.fill(".party-form input[name=name]", name)
                await page.click(".party-form button")
                await page.wait_for_selector("text=The party is added")

            for side, owner in (("master", "Harbour Records"), ("publishing", "Lyric House Publishing")):
                await page.select_option("#split-right", side)
                await page.select_option("#party_1", label=owner)
                await page.fill("#share_1", "60")
                await page.wait_for_selector(
                    f"#split-sum:has-text('40 % of the {side} would still have no known owner')"
                )
                await page.fill("#share_1", "70")
                await page.select_option("#party_2", label="Harbour Records")
                await page.fill("#share_2", "40")
                await page.wait_for_selector("#split-sum.bad:has-text('10 % over 100 %')")
                await page.fill("#share_2", "30")
                await page.wait_for_selector(
                    f"#split-sum.good:has-text('The {side} adds up to exactly 100 %.')"
                )
                if side == "master":
                    await _shot(page, "2-splits-typing")
                await page.click("#split-form button")
                await page.wait_for_selector("text=The shares are saved.")
            assert await page.locator("text=Every owner of both sides is known everywhere.").count() == 1
            await _shot(page, "3-splits-saved")

            await page.click(".ws-nav >> text=Licensing policy")
            await page.select_option("select[name=party_id]", label="Harbour Records")
            for mechanism in ("vickrey", "negotiation", "fixed_price"):
                await page.check(f"#mechanism_online_ads_{mechanism}")
            await page.fill("input[name=multiplier_online_ads]", "100")
            await page.fill("input[name=base]", "1,500.00")
            await page.fill("input[name=floor]", "900")
            await page.fill("input[name=ceiling]", "100")
            await page.click(".policy-form button")
            await page.wait_for_selector(
                "[role=alert]:has-text('Ceiling: 100.00 EUR is under the floor of 900.00 EUR.')"
            )
            await _shot(page, "4-policy-refused")
            await page.fill("input[name=ceiling]", "20000")
            await page.check("input[name=automated_online_ads]")
            await page.click(".policy-form button")
            await page.wait_for_selector("text=The licensing policy is saved")
            assert await page.is_checked("#mechanism_online_ads_vickrey")
            # The publisher party speaks for its side too: the form keeps the terms just saved.
            await page.select_option("select[name=party_id]", label="Lyric House Publishing")
            await page.click(".policy-form button")
            await page.wait_for_selector("text=The licensing policy is saved")
            await _shot(page, "5-policy-saved")

            await page.click(".ws-nav >> text=Open a round")
            await page.select_option("#mechanism", "vickrey")
            assert await page.is_hidden("fieldset[data-for=clock]")
            await page.fill("input[name=price]", "500")
            await page.click("#round-form button")
            await page.wait_for_selector("[role=alert]:has-text('under your policy')")
            await _shot(page, "6-round-refused")
            await page.fill("input[name=price]", "1000")
            await page.check("input[name=soft_close]")
            await _shot(page, "7-round-form")
            await page.click("#round-form button")
            await page.wait_for_url(f"{live_server}/rounds/*")
            await page.wait_for_function("document.getElementById('connection').textContent === 'live'")
            await _shot(page, "8-round-room")
            round_id = page.url.rsplit("/", 1)[1]
        finally:
            await browser.close()
    async with pg_pool.acquire() as conn:
        opened = await conn.fetchrow("SELECT track_id, params FROM rounds WHERE id = $1", round_id)
    assert opened is not None and opened["track_id"] == track.id


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)")
async def test_imports_inbox_and_earnings_read_well_in_the_browser_at_desktop_and_phone_width(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    label, publisher = await sign_in("rights_holder"), await sign_in("rights_holder")
    buyer = await sign_in("buyer", organisation=f"Brightside Agency {uuid4().hex[:6]}")
    async with pg_pool.acquire() as conn:
        w = await world(conn, label=label.principal, publisher=publisher.principal, buyer=buyer.principal)
    quote = (await buyer.client.post("/api/quotes", json={"track_id": str(w.track_id), **USAGE})).json()
    deal = (
        await buyer.client.post(f"/api/quotes/{quote['id']}/accept", headers={"Idempotency-Key": "k"})
    ).json()
    async with pg_pool.acquire() as conn, conn.transaction():
        await contracts.record_payment(conn, UUID(deal["id"]), method="card", reference=f"pi_{uuid4().hex}",
                                       amount=Money(deal["price"]["amount"], "EUR"), now=datetime.now(UTC))  # fmt: skip
    negotiation = await new_track(pg_pool, label, "Slow Tide")
    opened = await label.client.post("/api/rounds", json={
        "track_id": str(negotiation), "usage": USAGE, "duration_seconds": 3600,
        "params": {"mechanism": "negotiation", "floor": eur(50_000), "ceiling": eur(500_000),
                   "auto_accept_at": eur(400_000), "max_rounds": 6, "response_seconds": 3600}})  # fmt: skip
    offer = await buyer.client.post(
        f"/api/rounds/{opened.json()['id']}/negotiations", json={"amount": eur(120_000)}
    )
    assert offer.status_code == 201, offer.text
    imported = await new_track(pg_pool, label, "Paper Boats", clearable=False)
    isrc = f"GBIMP{uuid4().int % 10**7:07d}"
    sheet = f"right,party,share,isrc,recording_title,track_id\nmaster,Imported Label,100,{isrc},Paper Boats,{imported}\n"

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )  # fmt: skip
        try:
            page = await _signed_in_page(browser, live_server, label, 1280)
            await page.goto(f"{live_server}/workspace")
            await page.set_input_files("#import-form input[type=file]", files=[
                {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"party,share\nNobody,100\n"}])  # fmt: skip
            await page.click("#import-form button")
            await page.wait_for_selector("#import-report .bad:has-text('Nothing was imported from bad.csv')")
            await page.set_input_files("#import-form input[type=file]", files=[
                {"name": "paper-boats.csv", "mimeType": "text/csv", "buffer": sheet.encode()}])  # fmt: skip
            await page.click("#import-form button")
            await page.wait_for_selector("#import-report .good:has-text('paper-boats.csv is imported.')")
            report = await page.inner_text("#import-report")
            await _shot(page, "9-import-report")
            assert (
                "Parties: 1 created, 0 matched" in report
                and "Recordings: 1 created" in report
                and "1 share written" in report
            )
            await page.click("text=See the catalogue with what was imported")
            await page.wait_for_selector(f"text=ISRC {isrc}")
            await page.close()

            for width, suffix in ((1280, ""), (390, "-390")):
                page = await _signed_in_page(browser, live_server, label, width)
                await page.goto(f"{live_server}/workspace/inbox")
                await page.wait_for_selector("text=Send counter-offer")
                assert await _content_fits(page), f"the inbox is wider than {width} px"
                await _shot(page, f"10-inbox{suffix}")
                await page.goto(f"{live_server}/workspace/earnings")
                await page.wait_for_selector("text=Earned after the platform fee")
                assert await _content_fits(page), f"the earnings page is wider than {width} px"
                await _shot(page, f"11-earnings{suffix}")
                for path, ready, name in (
                    (f"/workspace/tracks/{w.track_id}", "#split-sum[data-total]", "12-splits"),
                    (f"/workspace/tracks/{w.track_id}/policy", ".policy-form", "13-policy"),
                ):
                    await page.goto(f"{live_server}{path}")
                    await page.wait_for_selector(ready)
                    await _shot(page, f"{name}{suffix}")
                    assert await _content_fits(page), f"{path} is wider than {width} px"
                await page.close()
        finally:
            await browser.close()
