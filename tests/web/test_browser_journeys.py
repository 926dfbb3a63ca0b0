"""Whole journeys in Chromium, each buyer and the rights holder in a browser of their own, through to payment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Dialog, Page, expect

from tests.auction import live
from tests.auction.live import eur, open_round, sealed
from tests.conftest import SignIn
from tests.web.browser import chromium, needs_chromium, screenshot, signed_in_page

pytestmark = [pytest.mark.browser, needs_chromium]
timers = live.timers  # an arq worker running in the test's event loop


async def _agree(dialog: Dialog) -> None:
    await dialog.accept()


async def _pay_in_my_licences(page: Page, price: str, name: str) -> str:
    """From the room's result, to My licences, paid by test card; the deal's state after."""
    await page.click("#result a")
    await page.wait_for_selector(".deal button[data-pay-card]")
    assert price in await page.inner_text(".deal h2")
    await screenshot(page, f"{name}-licences-to-pay")
    await page.click(".deal button[data-pay-card]")
    await page.wait_for_selector(".deal .state-licensed")
    await screenshot(page, f"{name}-licences-paid")
    return await page.inner_text(".deal .state")


async def test_a_vickrey_round_bid_live_from_two_browsers_the_winner_pays_the_second_price(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=1_000), duration=20)
    async with chromium() as browser:
        rooms = {}
        for who in (seller, alice, bob):
            page = await signed_in_page(browser, live_server, who)
            page.on("dialog", _agree)
            await page.goto(f"{live_server}/rounds/{opened['id']}")
            await expect(page.locator("#connection")).to_have_text("live")
            rooms[who] = page
        listing = await rooms[seller].context.new_page()
        await listing.goto(f"{live_server}/rounds")
        asked: list[str] = []
        rooms[alice].on("dialog", lambda dialog: asked.append(dialog.message))
        await rooms[bob].fill("#bid-form input[name=amount]", "5.00")
        await rooms[bob].click("#bid-form button")
        await expect(rooms[bob].locator("#message.bad")).to_contain_text("— your bid was not placed.")
        refused = await rooms[bob].inner_text("#message")
        for who, amount in ((alice, "150.00"), (bob, "120.00")):
            await rooms[who].fill("#bid-form input[name=amount]", amount)
            await rooms[who].click("#bid-form button")
            await rooms[who].wait_for_selector("#message.good")
        await screenshot(rooms[bob], "vickrey-bob-bid-in")
        for page in rooms.values():
            await page.wait_for_selector("#result[data-price]", timeout=40_000)
        await expect(rooms[seller].locator("#result")).not_to_contain_text("a buyer")
        for who, name in ((seller, "seller"), (alice, "alice"), (bob, "bob")):
            await screenshot(rooms[who], f"vickrey-closed-{name}")
        await expect(rooms[seller].locator("#timeline-caption")).to_contain_text("Bids over time: 2 since")
        bob_message = await rooms[bob].inner_text("#message")
        async with pg_pool.acquire() as conn:
            winner = await conn.fetchval(
                "SELECT name FROM organisations WHERE id = $1", alice.principal.organisation_id
            )
        row = listing.locator("tr", has=listing.locator(f"a[href='/rounds/{opened['id']}']")).first
        await expect(row).to_contain_text(f"sold to {winner} at 120.00 EUR", timeout=15_000)  # no reload
        await screenshot(listing, "vickrey-rounds-list")
        state = await _pay_in_my_licences(rooms[alice], "€120.00", "vickrey-alice")
    assert "Your bid is in" not in bob_message
    assert "reserve" in refused and "round " not in refused.lower().replace("this round", "")
    assert asked == [
        "Place a sealed bid of €150.00? It cannot be withdrawn.\n\nCareful: that is 15 times the reserve of €10.00.",
        "Pay €120.00 now for “Harbour Lights” with the test card?",
    ]
    assert state.startswith("Licensed")


async def test_a_negotiation_with_one_counter_offer_accepted_and_paid(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    terms = {
        "mechanism": "negotiation", "floor": eur(5_000), "ceiling": eur(20_000), "auto_accept_at": eur(18_000),
        "max_rounds": 6, "response_seconds": 600, "counter": {"strategy": "split_the_difference"},
    }  # fmt: skip
    opened = await open_round(pg_pool, seller, terms, duration=600)
    asked: list[str] = []

    async def agree(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    async with chromium() as browser:
        page = await signed_in_page(browser, live_server, buyer)
        page.on("dialog", agree)
        await page.goto(f"{live_server}/rounds/{opened['id']}")
        await expect(page.locator("#connection")).to_have_text("live")
        await page.fill("#offer-form input[name=amount]", "80.00")
        await page.click("#offer-form button")
        await page.wait_for_selector("#negotiation-moves button[data-move=accept]:not([hidden])")
        standing = await page.inner_text("#negotiation")
        await screenshot(page, "negotiation-countered")
        await page.click("#negotiation-moves button[data-move=accept]")
        await expect(page.locator("#message")).to_contain_text("accepted", timeout=20_000)
        await page.goto(f"{live_server}/my-rounds")
        moves = await page.inner_text("main")
        await screenshot(page, "negotiation-my-rounds")
        await page.goto(f"{live_server}/licences")
        await page.wait_for_selector(".deal button[data-pay-card]")
        await page.click(".deal button[data-pay-card]")
        await page.wait_for_selector(".deal .state-licensed")
        await screenshot(page, "negotiation-paid")
    assert "Standing offer: €130.00 from the rights holder" in standing
    assert asked[:2] == [
        "Offer €80.00 for this licence? If the rights holder accepts, you pay it.",
        "Accept €130.00 now?",
    ]
    assert "You offered €80.00" in moves and "countered automatically with €130.00" in moves
    assert "Negotiation · agreed at €130.00" in moves


async def test_a_sealed_bid_committed_in_one_browser_is_revealed_from_another_with_its_receipt(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any, tmp_path: Path
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(
        pg_pool, seller, sealed("vickrey", reserve=1_000, reveal_seconds=300), duration=15
    )
    room = f"{live_server}/rounds/{opened['id']}"
    receipt = tmp_path / "receipt.json"
    async with chromium() as browser:
        pages = {}
        for who, amount in ((alice, "150.00"), (bob, "120.00")):
            page = await signed_in_page(browser, live_server, who)
            page.on("dialog", _agree)
            await page.goto(room)
            await expect(page.locator("#connection")).to_have_text("live")
            await page.fill("#bid-form input[name=amount]", amount)
            await page.click("#bid-form button")
            await expect(page.locator("#message")).to_contain_text("Keep the reveal receipt")
            pages[who] = page
        async with pages[alice].expect_download() as download:
            await pages[alice].click("#receipt-link")
        await (await download.value).save_as(receipt)
        await screenshot(pages[alice], "commit-reveal-receipt")
        await pages[alice].context.close()  # alice moves to another browser

        await expect(pages[bob].locator("#reveal")).to_be_visible(timeout=40_000)
        await pages[bob].click("#reveal")
        await expect(pages[bob].locator("#message")).to_contain_text("Revealed")

        elsewhere = await signed_in_page(browser, live_server, alice)
        await elsewhere.goto(room)
        await expect(elsewhere.locator("#reveal-file")).to_be_visible()
        await elsewhere.set_input_files("#reveal-file input[name=receipt]", str(receipt))
        await elsewhere.click("#reveal-file button")
        # Every commitment is open: the round closes now, not when the five-minute window ends.
        await expect(elsewhere.locator("#result")).to_contain_text("You won: you pay €120.00", timeout=15_000)
        await screenshot(elsewhere, "commit-reveal-won-elsewhere")
