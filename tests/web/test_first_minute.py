"""`make run`'s first minute, on its own fresh data dir: the server answers while the demo's tracks are still
being analysed, the terminal and the Discover page show the progress up to N of N, a track is searchable once
analysed, and loading the demo again redoes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from discovery import synth
from tests.auction.live import stop, wait_for
from tests.conftest import PROJECT_ROOT, free_port
from tests.web.browser import chromium, needs_chromium, screenshot

DEMO_TRACKS = 2  # a small demo: the orchestration is under test here, not the analyser's speed
PHONE = {"width": 390, "height": 844}


def _env(data_dir: Path) -> dict[str, str]:
    """A newcomer's environment: no store URLs (embedded ones under the data dir), a small demo."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    return {
        **env,
        "MARKETPLACE_DATA_DIR": str(data_dir),
        "DEMO_TRACKS": str(DEMO_TRACKS),
        "PYTHONUNBUFFERED": "1",
    }


def _marketplace(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "marketplace.cli", *args], env=env, cwd=PROJECT_ROOT, stdout=out,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip


async def _get(base: str, path: str, **params: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            return await client.get(path, params=params)
    except httpx.TransportError:
        return None


async def _progress(base: str) -> dict[str, Any]:
    response = await _get(base, "/api/demo/progress")
    assert response is not None and response.status_code == 200, response
    body: dict[str, Any] = response.json()
    return body


async def _found_by_title(base: str, title: str) -> bool:
    response = await _get(base, "/discover", q=f'"{title}"')
    assert response is not None and response.status_code == 200
    return f'data-title="{title}"' in response.text


@needs_chromium
async def test_the_server_answers_while_the_demo_is_analysed_in_the_background_and_shows_its_progress(
    tmp_path: Path,
) -> None:
    env, terminal = _env(tmp_path / "data"), tmp_path / "terminal.txt"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    title = synth.demo_track(0).title
    # No analysis worker at first, so "still analysing" is a state the test holds, not a race it hopes to win.
    server = _marketplace(env, terminal, "serve", "--demo", "--analysis-workers", "0", "--port", str(port))
    analyser = None
    try:
        home = await wait_for(lambda: _get(base, "/"), within=120, what="the server to answer")
        assert home.status_code == 200 and "buyer@demo.test" in home.text
        assert await _progress(base) == {
            "analysed": 0, "failed": 0, "total": DEMO_TRACKS, "finished": False,
            "text": f"Demo catalogue: 0 of {DEMO_TRACKS} tracks analysed",
        }  # fmt: skip
        assert not await _found_by_title(base, title), "a track is not searchable before it is analysed"
        rounds = await _get(base, "/rounds")
        assert rounds is not None and f">{title}</a>" in rounds.text, "the demo's rounds need no analysis"

        async with chromium() as browser:
            page = await (await browser.new_context(viewport=PHONE)).new_page()
            await page.goto(f"{base}/discover")
            status = page.locator("#catalogue-progress [role=status]")
            assert f"Demo catalogue: 0 of {DEMO_TRACKS} tracks analysed." in await status.inner_text()
            await screenshot(page, "first-minute-analysing-390")

            analyser = _marketplace(env, tmp_path / "analyser.txt", "worker", "--analysis")
            done = f"Demo catalogue: {DEMO_TRACKS} of {DEMO_TRACKS} tracks analysed"
            await (
                page.locator("#catalogue-progress [data-progress-text]")
                .filter(has_text=done)
                .wait_for(timeout=300_000)
            )
            assert "Every demo track is analysed and searchable." in await status.inner_text()
            assert (
                await page.locator("#catalogue-progress progress").evaluate("bar => bar.value") == DEMO_TRACKS
            )
            assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            await screenshot(page, "first-minute-analysed-390")

        assert await _found_by_title(base, title), "an analysed demo track is searchable"
        await wait_for(
            lambda: done in terminal.read_text(), within=30, what="the terminal's last progress line"
        )
        assert f"Demo catalogue: 0 of {DEMO_TRACKS} tracks analysed" in terminal.read_text()
        assert f"{DEMO_TRACKS} demo tracks queued" in terminal.read_text()
    finally:
        if analyser is not None:
            stop(analyser)
        stop(server)

    again = tmp_path / "again.txt"
    assert _marketplace(env, again, "demo").wait(timeout=300) == 0
    assert "demo data ready" in again.read_text()
    assert "queued" not in again.read_text(), "a second run queues no finished track"
    assert len(list((tmp_path / "data" / "audio").rglob("*.wav"))) == DEMO_TRACKS
