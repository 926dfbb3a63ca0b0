"""Every page in a real browser under the Content-Security-Policy: not one violation, signed in or not."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, async_playwright

from tests.auction.live import new_track, open_round, sealed
from tests.conftest import TEST_PASSWORD, SignIn

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Injected by the browser itself (not by the page), so the CSP does not stop it from reporting.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} in ${event.sourceFile}:${event.lineNumber}`);
});
"""


async def _visit(page: Page, url: str, console: list[str], ready: str | None = None) -> list[str]:
    console.clear()
    await page.goto(url)
    await page.wait_for_load_state("networkidle")
    if ready:
        await page.wait_for_selector(ready)
    violations: list[str] = await page.evaluate("window.__violations")
    return violations + [message for message in console if "Content Security Policy" in message]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)")
async def test_no_page_breaks_the_content_security_policy(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    label = await sign_in("rights_holder")
    opened = await open_round(pg_pool, label, sealed(), duration=300)
    track = opened["track_id"]
    # The round's track is wholly owned (a round needs that); this one has a quarter of its master unknown.
    partial = await new_track(pg_pool, label, "Half Known", clearable=False)
    party = await label.client.post("/api/rights/parties", json={"name": "Harbour Songs"})
    share = {"party_id": party.json()["id"], "right": "master", "share_bp": 7_500}
    assert (await label.client.post(f"/api/rights/tracks/{partial}/shares", json=share)).status_code == 201
    async with httpx.AsyncClient(base_url=live_server) as client:
        login = await client.post("/api/auth/login", json={"email": label.email, "password": TEST_PASSWORD})
        login.raise_for_status()
        session = client.cookies["mp_session"]
    anonymous_pages = {
        "/": None, "/login": "form", "/register": "form", "/discover": None, "/rounds": None,
        "/no/such/page": None, "/schema": ".swagger-ui .info",
    }  # fmt: skip
    signed_in_pages = {
        "/": None, "/discover": None, "/discover/upload": "#upload", f"/discover/tracks/{track}": None,
        f"/tracks/{partial}/rights": "svg.split rect", f"/rounds/{opened['id']}": "#connection",
        "/rounds": None, "/schema": ".swagger-ui .info",
        "/workspace": "#import-form", f"/workspace/tracks/{partial}": "#split-sum[data-total]",
        f"/workspace/tracks/{partial}/policy": ".policy-form", f"/workspace/tracks/{track}/round": "#round-form",
        "/workspace/inbox": None, "/workspace/earnings": None,
    }  # fmt: skip
    found: dict[str, list[str]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for who, pages in (("anonymous", anonymous_pages), ("signed in", signed_in_pages)):
                context = await browser.new_context()
                if who == "signed in":
                    await context.add_cookies([{"name": "mp_session", "value": session, "url": live_server}])
                await context.add_init_script(RECORD_VIOLATIONS)
                page = await context.new_page()
                console: list[str] = []
                page.on("console", lambda message, seen=console: seen.append(message.text))
                page.on(
                    "pageerror", lambda error, seen=console: seen.append(f"Content Security Policy? {error}")
                )
                for path, ready in pages.items():
                    problems = await _visit(page, f"{live_server}{path}", console, ready)
                    if problems:
                        found[f"{who} {path}"] = problems
                await context.close()
        finally:
            await browser.close()
    assert found == {}
