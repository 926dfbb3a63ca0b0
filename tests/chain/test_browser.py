"""Paying on-chain in a real browser: the demo wallet pays and the page says so; a refusal reads as a sentence."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from contracts.chain import service
from contracts.chain import store as chain_store
from contracts.chain.client import ChainClient
from contracts.chain.model import Deployment
from tests.chain.conftest import MakeDeal
from tests.chain.helpers import ONE_ETHER, random_address
from tests.conftest import TEST_PASSWORD, SignIn

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
FUNDED_WALLET, EMPTY_WALLET = 8, 15  # 0–4 are the platform's and the demo's; 15 gets ether below

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (set CHROMIUM_PATH)"),
]


@contextlib.asynccontextmanager
async def listener(pg_pool: asyncpg.Pool, chain: ChainClient) -> AsyncIterator[None]:
    """What the worker's cron does, a step every 0.2 s while the browser waits."""

    async def follow() -> None:
        while True:
            await service.follow_settlements(pg_pool, chain, now=datetime.now(UTC))
            await asyncio.sleep(0.2)

    task = asyncio.create_task(follow())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def browser_page(live_server: str, email: str) -> AsyncIterator[Page]:
    async with httpx.AsyncClient(base_url=live_server) as client:
        (
            await client.post("/api/auth/login", json={"email": email, "password": TEST_PASSWORD})
        ).raise_for_status()
        session = client.cookies["mp_session"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            await context.add_cookies([{"name": "mp_session", "value": session, "url": live_server}])
            yield await context.new_page()
        finally:
            await browser.close()


async def test_the_demo_wallet_pays_the_deal_and_the_page_says_it_is_paid(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal,
    sign_in: SignIn, live_server: str,
) -> None:  # fmt: skip
    buyer, seller = await sign_in("buyer"), await sign_in("rights_holder")
    async with pg_pool.acquire() as conn:
        address = await service.give_demo_wallet(
            conn, buyer.principal.organisation_id, FUNDED_WALLET, now=datetime.now(UTC)
        )
        await chain_store.set_payout_address(
            conn, seller.principal.organisation_id, random_address(), datetime.now(UTC)
        )
    await service.fund_demo_wallet(chain, list(deployments.values()), address)
    deal = await make_deal(buyer=buyer.principal.organisation_id, seller=seller.principal.organisation_id)

    async with browser_page(live_server, buyer.email) as page, listener(pg_pool, chain):
        await page.goto(f"{live_server}/deals/{deal.id}/pay-on-chain")
        assert "Demo only." in await page.inner_text(".demo")
        await page.click("#pay-demo-wallet")
        # Locator waits, not wait_for_function: the page's CSP forbids the eval that one needs.
        await expect(page.locator("#chain-status")).to_have_text(re.compile(r"^Paid\."), timeout=30_000)
        await page.wait_for_selector("text=this deal is licensed, not awaiting payment", timeout=30_000)
        assert "paid" in await page.inner_text("main")


async def test_a_demo_wallet_without_enough_stablecoin_is_told_so_in_a_sentence(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], make_deal: MakeDeal,
    sign_in: SignIn, live_server: str,
) -> None:  # fmt: skip
    buyer, seller = await sign_in("buyer"), await sign_in("rights_holder")
    async with pg_pool.acquire() as conn:
        address = await service.give_demo_wallet(
            conn, buyer.principal.organisation_id, EMPTY_WALLET, now=datetime.now(UTC)
        )
        await chain_store.set_payout_address(
            conn, seller.principal.organisation_id, random_address(), datetime.now(UTC)
        )
    await chain.rpc("anvil_setBalance", address, hex(ONE_ETHER))  # gas money, but no stablecoin
    deal = await make_deal(buyer=buyer.principal.organisation_id, seller=seller.principal.organisation_id)

    async with browser_page(live_server, buyer.email) as page:
        await page.goto(f"{live_server}/deals/{deal.id}/pay-on-chain")
        await page.click("#pay-demo-wallet")
        await expect(page.locator("#chain-error")).not_to_be_empty(timeout=30_000)
        assert (
            await page.inner_text("#chain-error")
            == "The demo wallet could not pay: insufficient stablecoin balance."
        )
