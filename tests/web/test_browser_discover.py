"""The buyer's Discover page in Chromium: empty fields, buying at the list price, a phone's width."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Dialog

from tests.web.browser import chromium, needs_chromium, screenshot, signed_in_page
from tests.web.conftest import ListTrack

pytestmark = [pytest.mark.browser, needs_chromium]


async def test_enter_in_an_empty_form_searches_and_lists_tracks(
    list_track: ListTrack, live_server: str
) -> None:
    listed = await list_track()
    async with chromium() as browser:
        page = await signed_in_page(browser, live_server, listed.buyer)
        await page.goto(f"{live_server}/discover?q=&bpm_min=&bpm_max=&key=&mode=&mood=&instrumental=")
        await page.press("#search input[name=q]", "Enter")
        await page.wait_for_selector(".result")
        await screenshot(page, "discover-empty-fields")
        assert await page.locator("[role=alert]").count() == 0


async def test_a_buyer_buys_now_at_the_list_price_after_confirming(
    list_track: ListTrack, live_server: str
) -> None:
    listed = await list_track()
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    async with chromium() as browser:
        page = await signed_in_page(browser, live_server, listed.buyer)
        page.on("dialog", accept)
        await page.goto(f"{live_server}/discover?q={listed.word}")
        await page.click("button[data-buy]")
        await page.wait_for_selector("#licensing-status:not([hidden])")
        status = await page.inner_text("#licensing-status")
        await screenshot(page, "discover-bought")
        await page.goto(f"{live_server}/discover/tracks/{listed.track_id}")
        await screenshot(page, "track-page")

        await page.goto(f"{live_server}/licences")
        assert "Agreed — waiting for your payment" in await page.inner_text(".deal")
        await screenshot(page, "licences-awaiting-payment")
        await page.click("button[data-pay-card]")
        await page.wait_for_selector("button[data-downloads]")
        assert "Licensed" in await page.inner_text(".deal .state")
        await page.click("button[data-downloads]")
        await page.wait_for_selector(".downloads li a")
        await screenshot(page, "licences-licensed")
        async with page.expect_download() as audio_download:
            await page.click("text=The original audio file")
        audio = await asyncio.to_thread(Path(await (await audio_download.value).path()).read_bytes)
        async with page.expect_download() as pdf_download:
            await page.click("text=The agreement (PDF)")
        pdf = await asyncio.to_thread(Path(await (await pdf_download.value).path()).read_bytes)
        await page.click("text=Verify this licence")
        verdict = await page.inner_text("#verdict")
    assert audio == listed.audio and pdf.startswith(b"%PDF")
    assert "This licence is valid." in verdict
    assert asked[1] == "Pay €2,000.00 now for “Night Drive” with the test card?"
    assert asked and asked[0].startswith(
        "Buy a licence for “Night Drive” (online ads worldwide for 12 months"
    )
    assert "at €2,000.00 now?" in asked[0]
    assert status.startswith("Deal made for “Night Drive” at €2,000.00.")
    deals = (await listed.buyer.client.get("/api/deals")).json()
    assert [(d["track_id"], d["state"]) for d in deals] == [(str(listed.track_id), "licensed")]


async def test_at_390_pixels_nothing_scrolls_sideways_and_sign_out_is_on_screen(
    list_track: ListTrack, live_server: str
) -> None:
    listed = await list_track()
    async with chromium() as browser:
        page = await signed_in_page(browser, live_server, listed.buyer, width=390)
        await page.goto(f"{live_server}/discover?q={listed.word}")
        await screenshot(page, "discover-390px")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        sign_out = await page.get_by_role("button", name="Sign out").bounding_box()
        filters_open = await page.evaluate("document.getElementById('filters').open")
        await page.goto(f"{live_server}/discover/tracks/{listed.track_id}")
        await screenshot(page, "track-page-390px")
        track_overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0 and track_overflow <= 0
    assert sign_out is not None and sign_out["x"] >= 0 and sign_out["x"] + sign_out["width"] <= 390
    assert filters_open is False
