"""Chromium for the buyer's journeys: signed-in contexts and screenshots saved under test-artifacts/."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import TEST_PASSWORD, SignedIn

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)"
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )  # fmt: skip
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in_page(browser: Browser, base: str, who: SignedIn, *, width: int = 1280) -> Page:
    """A page in its own browser context, signed in with a session cookie as `who`."""
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/auth/login", json={"email": who.email, "password": TEST_PASSWORD})
        response.raise_for_status()
        session = client.cookies["mp_session"]
    context = await browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    await context.add_cookies([{"name": "mp_session", "value": session, "url": base}])
    return await context.new_page()


async def screenshot(page: Page, name: str) -> None:
    """The whole page, kept as a test artefact for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
