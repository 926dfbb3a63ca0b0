"""A websocket lives no longer than the session or API token that opened it: closed with 4401 when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.accounts.sessions import revocation_channel

log = logging.getLogger("marketplace.signout")

SIGNED_OUT = 4401
# Sign-out and revocation are announced at once over Redis; this re-check catches what pub/sub lost
# (Redis reconnecting) and sessions that simply expired.
RECHECK_SECONDS = 30.0


async def close_when_revoked(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    channels: ChannelsPlugin,
    credential: str,
    still_valid: Callable[[], Awaitable[bool]],
) -> None:
    """Run the websocket `app`; when the credential is revoked, close the socket with 4401 and tell the
    app the client went away, so its handler ends as after any disconnect."""
    revoked = asyncio.Event()
    send_lock = asyncio.Lock()
    state = {"accepted": False, "closed": False}

    async def guarded_send(message: Message) -> None:
        async with send_lock:
            if state["closed"]:
                return  # closed for the sign-out: what the handler still sends goes nowhere
            await send(message)
            if message["type"] == "websocket.accept":
                state["accepted"] = True
                if revoked.is_set():  # revoked while the handler was still deciding to accept
                    state["closed"] = True
                    await send({"type": "websocket.close", "code": SIGNED_OUT, "reason": "signed out"})
            elif message["type"] == "websocket.close":
                state["closed"] = True

    pending: asyncio.Future[Any] | None = None

    async def guarded_receive() -> Any:
        nonlocal pending
        if not revoked.is_set():
            if pending is None:
                pending = asyncio.ensure_future(receive())
            waiting = asyncio.ensure_future(revoked.wait())
            done, _ = await asyncio.wait({pending, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if pending in done:
                waiting.cancel()
                message, pending = pending.result(), None
                return message
        return {"type": "websocket.disconnect", "code": SIGNED_OUT}

    async def watch() -> None:
        async def on_revoked(_: bytes) -> None:
            revoked.set()

        async with (
            channels.start_subscription([revocation_channel(credential)]) as subscriber,
            subscriber.run_in_background(on_revoked),
        ):
            # Checked after subscribing, so a sign-out in between is not missed.
            # Each socket re-checks at its own phase: a thousand sockets opened together would
            # otherwise re-check together, a thousand queries at once every RECHECK_SECONDS.
            next_check = random.uniform(0, RECHECK_SECONDS)
            while not revoked.is_set():
                if not await still_valid():
                    revoked.set()
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(revoked.wait(), next_check)
                next_check = RECHECK_SECONDS
        async with send_lock:
            if state["accepted"] and not state["closed"]:
                state["closed"] = True
                await send({"type": "websocket.close", "code": SIGNED_OUT, "reason": "signed out"})

    watcher = asyncio.create_task(watch())
    try:
        await app(scope, guarded_receive, guarded_send)
    finally:
        watcher.cancel()
        if pending is not None:
            pending.cancel()
        try:
            await watcher
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("watching a websocket's sign-in for revocation failed")
