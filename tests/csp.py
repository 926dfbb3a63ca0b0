"""Visiting pages in Chromium and collecting every Content-Security-Policy violation they cause."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from tests.conftest import TEST_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)"
)

# Injected by the browser itself (not by the page), so the CSP does not stop it from reporting.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} in ${event.sourceFile}:${event.lineNumber}`);
});
"""

Pages = dict[str, str | None]  # path → a selector that shows the page has done its work, or None


async def session_of(base: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/auth/login", json={"email": email, "password": TEST_PASSWORD})
        response.raise_for_status()
        return client.cookies["mp_session"]


async def csp_violations(base: str, visits: list[tuple[str | None, Pages]]) -> dict[str, list[str]]:
    """For each (session cookie or None, pages): the violations per page; empty when there are none."""
    found: dict[str, list[str]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for session, pages in visits:
                context = await browser.new_context()
                if session is not None:
                    await context.add_cookies([{"name": "mp_session", "value": session, "url": base}])
                await context.add_init_script(RECORD_VIOLATIONS)
                page = await context.new_page()
                console: list[str] = []
                page.on("console", lambda message, seen=console: seen.append(message.text))
                for path, ready in pages.items():
                    problems = await _visit(page, f"{base}{path}", console, ready)
                    if problems:
                        found[f"{'signed in' if session else 'anonymous'} {path}"] = problems
                await context.close()
        finally:
            await browser.close()
    return found


async def _visit(page: Page, url: str, console: list[str], ready: str | None) -> list[str]:
    console.clear()
    await page.goto(url)
    await page.wait_for_load_state("networkidle")
    if ready:
        await page.wait_for_selector(ready)
    violations: list[str] = await page.evaluate("window.__violations")
    return violations + [message for message in console if "Content Security Policy" in message]
