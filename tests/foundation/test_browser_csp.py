"""Every page in a real browser under the Content-Security-Policy: not one violation, signed in or not."""

from __future__ import annotations

import asyncpg
import pytest

from tests.auction.live import new_track, open_round, sealed
from tests.conftest import SignIn
from tests.csp import csp_violations, needs_chromium, session_of


@pytest.mark.browser
@needs_chromium
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
    anonymous = {
        "/": None, "/login": "form", "/register": "form", "/discover": None, "/rounds": None,
        "/invitations/accept?token=unknown": None, "/no/such/page": None, "/schema": ".swagger-ui .info",
    }  # fmt: skip
    signed_in = {
        "/": None, "/discover": None, "/discover/upload": "#upload", f"/discover/tracks/{track}": None,
        f"/tracks/{partial}/rights": "svg.split rect", f"/rounds/{opened['id']}": "#connection",
        "/rounds": None, "/payouts/on-chain": None, "/schema": ".swagger-ui .info",
        "/workspace": "#import-form", f"/workspace/tracks/{partial}": "#split-sum[data-total]",
        f"/workspace/tracks/{partial}/policy": ".policy-form", f"/workspace/tracks/{track}/round": "#round-form",
        "/workspace/inbox": None, "/workspace/earnings": None,
    }  # fmt: skip
    session = await session_of(live_server, label.email)
    assert await csp_violations(live_server, [(None, anonymous), (session, signed_in)]) == {}
