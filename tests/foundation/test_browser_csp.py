"""Every page in a real browser under the Content-Security-Policy: not one violation, signed in or not."""

from __future__ import annotations

import asyncpg
import pytest

from tests.auction.live import open_round, sealed
from tests.conftest import SignIn
from tests.csp import csp_violations, needs_chromium, session_of


@pytest.mark.browser
@needs_chromium
async def test_no_page_breaks_the_content_security_policy(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    label = await sign_in("rights_holder")
    opened = await open_round(pg_pool, label, sealed(), duration=300)
    track = opened["track_id"]  # the label holds all its rights: the rights page draws its split bars
    anonymous = {
        "/": None, "/login": "form", "/register": "form", "/discover": None, "/rounds": None,
        "/invitations/accept?token=unknown": None, "/no/such/page": None, "/schema": ".swagger-ui .info",
    }  # fmt: skip
    signed_in = {
        "/": None, "/discover": None, "/discover/upload": "#upload", f"/discover/tracks/{track}": None,
        f"/tracks/{track}/rights": "svg.split rect", f"/rounds/{opened['id']}": "#connection",
        "/rounds": None, "/payouts/on-chain": None, "/schema": ".swagger-ui .info",
    }  # fmt: skip
    session = await session_of(live_server, label.email)
    assert await csp_violations(live_server, [(None, anonymous), (session, signed_in)]) == {}
