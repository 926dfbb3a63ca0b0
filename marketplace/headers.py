"""Security headers on every HTTP response: a strict Content-Security-Policy and its companions."""

from __future__ import annotations

import re

from litestar.types import Message, Scope

# Nothing inline, nothing from elsewhere: an injected <script> or style="" does nothing.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'{sockets}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
HSTS_SECONDS = 365 * 24 * 3600


def content_security_policy(host: str | None) -> str:
    """The policy; websockets to this host are named as well, for browsers whose 'self' omits ws(s):."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return _POLICY.format(sockets=sockets)


def security_headers(host: str | None, *, https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", content_security_policy(host).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]
    if https:
        headers.append((b"strict-transport-security", f"max-age={HSTS_SECONDS}; includeSubDomains".encode()))
    return headers


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: runs for every response, the ones no route matched (404) included."""
    if message["type"] != "http.response.start":
        return
    host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), None)
    headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
    present = {key.lower() for key, _ in headers}
    https = scope["app"].state.settings.cookie_secure
    extra = [(key, value) for key, value in security_headers(host, https=https) if key not in present]
    message["headers"] = [*headers, *extra]
