"""The licensee in a real browser: download links from the agreement page, files that arrive whole."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.conftest import TEST_PASSWORD
from tests.contracts.conftest import MakeLicensed

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)")
async def test_the_licensee_downloads_the_audio_and_the_agreement_from_the_agreement_page(
    make_licensed: MakeLicensed, live_server: str, tmp_path: Path
) -> None:
    licensed = await make_licensed()
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.post(
            "/api/auth/login", json={"email": licensed.buyer.email, "password": TEST_PASSWORD}
        )
        response.raise_for_status()
        session = client.cookies["mp_session"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context(accept_downloads=True, viewport={"width": 390, "height": 844})
            await context.add_cookies([{"name": "mp_session", "value": session, "url": live_server}])
            page = await context.new_page()
            await page.goto(f"{live_server}/deals/{licensed.deal.id}/agreement")
            await page.click("#get-links")
            await page.wait_for_selector("#links li a")
            assert "These links work until" in await page.inner_text("#links-status")
            async with page.expect_download() as audio_download:
                await page.click("text=The original audio file")
            audio = await (await audio_download.value).path()
            assert (
                hashlib.sha256(await asyncio.to_thread(Path(audio).read_bytes)).hexdigest()
                == licensed.original.sha256
            )
            async with page.expect_download() as pdf_download:
                await page.click("text=The agreement (PDF)")
            pdf = Path(await (await pdf_download.value).path())
            assert (await asyncio.to_thread(pdf.read_bytes)).startswith(b"%PDF")

            await page.goto(f"{live_server}/licences/{licensed.licence.id}/verify")
            assert "This licence is valid." in await page.inner_text("#verdict")
            await page.wait_for_selector("#browser-check.good")
            assert "it is genuine" in await page.inner_text("#browser-check")
            # The terms, hashes and the certificate wrap inside the page on a phone (the top bar is the layout's).
            overflowing = await page.evaluate(
                "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 390).length"
            )
            assert overflowing == 0
        finally:
            await browser.close()
