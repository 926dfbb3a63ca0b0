"""The discovery pages in a real browser: upload a track, identify a clip, find tracks like a file."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from discovery import synth
from tests.conftest import TEST_PASSWORD, SignIn
from tests.discovery.conftest import IndexedCatalogue

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)")
async def test_a_rights_holder_uploads_and_identifies_a_clip_in_the_browser(
    sign_in: SignIn, live_server: str, indexed: IndexedCatalogue, tmp_path: Path
) -> None:
    label = await sign_in("rights_holder")
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.post(
            "/api/auth/login", json={"email": label.email, "password": TEST_PASSWORD}
        )
        response.raise_for_status()
        session = client.cookies["mp_session"]
    song = tmp_path / "song.flac.wav"  # a misleading name: the content decides
    song.write_bytes(synth.to_wav(synth.render(synth.demo_track(6, seed=55), seconds=6)))
    source = indexed.tracks[13]
    clip = tmp_path / "advert.wav"
    clip.write_bytes(synth.to_wav(source.audio()[6 * synth.SAMPLE_RATE : 12 * synth.SAMPLE_RATE]))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context()
            await context.add_cookies([{"name": "mp_session", "value": session, "url": live_server}])
            page = await context.new_page()
            await page.goto(f"{live_server}/discover/upload")
            await page.set_input_files("#upload input[name=file]", str(song))
            await page.fill("#upload input[name=title]", "Browser Upload")
            await page.fill("#upload input[name=artist]", "Playwright")
            await page.click("#upload button")
            await page.wait_for_url("**/discover/tracks/**")
            assert "Browser Upload" in await page.inner_text("h1")
            assert "Analysis pending" in await page.inner_text("main")

            await page.goto(f"{live_server}/discover")
            await page.set_input_files("#identify input[name=file]", str(clip))
            await page.click("#identify button")
            await page.wait_for_selector("#example-results li")
            answer = await page.inner_text("#example-results")
            await page.screenshot(path=str(tmp_path / "discover.png"), full_page=True)
        finally:
            await browser.close()
    assert source.truth.title in answer and "6.0 s into the track" in answer
