"""A live socket ends with its sign-in: closed with 4401 within a second of logout or token revocation."""

from __future__ import annotations

import time

import asyncpg
import httpx
from websockets.asyncio.client import connect

from tests.auction.live import Watcher, open_round, sealed, watching, ws_url
from tests.conftest import TEST_PASSWORD, SignIn

PROMPTLY = 2.0  # seconds; the defence answers within about one, the rest is a busy shared machine


async def test_a_socket_opened_with_a_session_is_closed_when_the_session_signs_out(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(), duration=120)
    async with httpx.AsyncClient(base_url=live_server) as browser:
        login = await browser.post("/api/auth/login", json={"email": buyer.email, "password": TEST_PASSWORD})
        assert login.status_code == 200
        cookie = f"mp_session={browser.cookies['mp_session']}"
        async with connect(
            ws_url(live_server, opened["id"]), additional_headers={"Cookie": cookie}
        ) as socket:
            room = Watcher(socket)
            await room.until(lambda w: w.frames, what="the round frame")
            signed_out = time.monotonic()
            logout = await browser.post(
                "/api/auth/logout", headers={"X-CSRF-Token": browser.cookies["mp_csrf"]}
            )
            assert logout.status_code == 204
            await room.until(lambda w: w.closed.is_set(), within=PROMPTLY, what="the socket to close")
            assert time.monotonic() - signed_out < PROMPTLY
            assert socket.close_code == 4401


async def test_a_socket_opened_with_a_token_is_closed_when_the_token_is_revoked(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(), duration=120)
    other = await buyer.client.post("/api/auth/tokens", json={"name": "second script"})
    async with watching(live_server, buyer, opened["id"]) as room:
        async with httpx.AsyncClient(
            base_url=live_server, headers={"Authorization": f"Bearer {other.json()['token']}"}
        ) as second_script:
            watching_token = await pg_pool.fetchval(
                "SELECT id FROM api_tokens WHERE user_id = $1 AND name = 'tests'", buyer.principal.user_id
            )
            revoked_at = time.monotonic()
            revoked = await second_script.delete(f"/api/auth/tokens/{watching_token}")
            assert revoked.status_code == 204
        await room.until(lambda w: w.closed.is_set(), within=PROMPTLY, what="the socket to close")
        assert time.monotonic() - revoked_at < PROMPTLY
        assert room.socket.close_code == 4401


async def test_other_sockets_of_the_same_user_stay_open(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(), duration=120)
    async with httpx.AsyncClient(base_url=live_server) as browser:
        await browser.post("/api/auth/login", json={"email": buyer.email, "password": TEST_PASSWORD})
        cookie = f"mp_session={browser.cookies['mp_session']}"
        async with (
            watching(live_server, buyer, opened["id"]) as by_token,
            connect(ws_url(live_server, opened["id"]), additional_headers={"Cookie": cookie}) as socket,
        ):
            by_session = Watcher(socket)
            await by_session.until(lambda w: w.frames, what="the round frame")
            await browser.post("/api/auth/logout", headers={"X-CSRF-Token": browser.cookies["mp_csrf"]})
            await by_session.until(lambda w: w.closed.is_set(), within=PROMPTLY, what="the session's socket")
            await by_token.socket.send('{"type": "ping"}')
            await by_token.until(lambda w: any(f["type"] == "pong" for f in w.frames), what="a pong")
            assert not by_token.closed.is_set()
