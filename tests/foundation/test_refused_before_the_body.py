"""A request its handler would refuse for who is calling is refused from its headers, before a byte of
its body is read or spooled: met as an attacker meets it, a raw socket that declares a huge body and
then sends nothing."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

import pytest
from litestar import Litestar

from marketplace.accounts.sessions import SESSION_COOKIE, open_session
from marketplace.bodies import spool_dir
from tests.conftest import SignIn

HUNDRED_MB = 100 * 1024 * 1024
MULTIPART = "multipart/form-data; boundary=x"
UPLOADS = {
    "/api/discovery/tracks": MULTIPART,
    "/api/discovery/identify": MULTIPART,
    "/api/discovery/search": MULTIPART,
    "/api/rights/imports/ddex": "application/xml",
    "/api/rights/imports/cwr": "text/plain",
    "/api/rights/imports/split-sheet": "text/csv",
}


def spooled_files(app: Litestar) -> list[str]:
    """Files this process holds open in the server's spool dir (spooled files have no name to list)."""
    spool = f"{spool_dir(app.state.settings)}/"
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(spool):
            found.append(target)
    return found


async def stalled_upload(live_server: str, path: str, content_type: str, *headers: str) -> tuple[int, bytes]:
    """Send only the head of a 100 MB upload, then stall: the status and the rest of the answer, which
    must come without the body (or the wait times out)."""
    address = urlsplit(live_server)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = [f"POST {path} HTTP/1.1", "Host: localhost", f"Content-Type: {content_type}",
            f"Content-Length: {HUNDRED_MB}", *headers]  # fmt: skip
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        rest = await asyncio.wait_for(reader.read(), timeout=5)  # to the end: the server closes
    finally:
        writer.close()
    return int(status_line.split()[1]), rest


@pytest.mark.parametrize("path", UPLOADS)
async def test_an_anonymous_upload_is_refused_with_401_before_its_body_is_read(
    app: Litestar, live_server: str, path: str
) -> None:
    status, rest = await stalled_upload(live_server, path, UPLOADS[path])
    assert status == 401
    assert b"sign in first" in rest
    assert b"connection: close" in rest.lower()
    assert spooled_files(app) == []


async def credential_of(app: Litestar, sign_in: SignIn, who: str) -> str:
    """The header a request carries: a buyer's API token, or a rights holder's session cookie."""
    if who == "buyer":
        return f"Authorization: Bearer {(await sign_in('buyer')).token}"
    session = await open_session(app.state.redis, (await sign_in("rights_holder")).principal)
    return f"Cookie: {SESSION_COOKIE}={session}"


@pytest.mark.parametrize(
    ("who", "sentence"),
    [("buyer", b"needs a rights holder account"), ("session without its CSRF token", b"CSRF token")],
)
async def test_an_upload_refused_for_who_sends_it_is_refused_with_403_before_its_body_is_read(
    app: Litestar, live_server: str, sign_in: SignIn, who: str, sentence: bytes
) -> None:
    credential = await credential_of(app, sign_in, who)
    status, rest = await stalled_upload(live_server, "/api/discovery/tracks", MULTIPART, credential)
    assert status == 403
    assert sentence in rest
    assert spooled_files(app) == []


async def test_an_anonymous_page_without_a_body_still_gets_the_friendly_sign_in_page(
    app: Litestar, live_server: str
) -> None:
    """Only requests that carry a body are answered early; a browser's GET gets the usual page."""
    address = urlsplit(live_server)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        b"GET /workspace HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    assert answer.split()[1] in (b"401", b"302", b"303")
    assert b"application/problem+json" not in answer
