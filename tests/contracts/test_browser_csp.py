"""The deal pages in a real browser under the Content-Security-Policy: not one violation."""

from __future__ import annotations

import pytest

from tests.contracts.conftest import MakeLicensed
from tests.csp import csp_violations, needs_chromium, session_of


@pytest.mark.browser
@needs_chromium
async def test_no_deal_page_breaks_the_content_security_policy(
    make_licensed: MakeLicensed, live_server: str
) -> None:
    licensed = await make_licensed()
    deal, licence = licensed.deal.id, licensed.licence.id
    buyer = {
        f"/deals/{deal}/agreement": "#get-links",
        f"/licences/{licence}/verify": "#browser-check.good",
        f"/deals/{deal}/pay-on-chain": None,
    }
    seller = {f"/deals/{deal}/agreement": None, "/payouts/on-chain": None}
    visits = [
        (await session_of(live_server, licensed.buyer.email), buyer),
        (await session_of(live_server, licensed.seller.email), seller),
        (None, {f"/licences/{licence}/verify": "#browser-check.good"}),
    ]
    assert await csp_violations(live_server, visits) == {}
