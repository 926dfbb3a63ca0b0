"""Who is calling and may they: principal resolution, CSRF, role and rate-limit guards, `caller` injection.

Business packages declare what a handler needs (`opt={"roles": [...], "rate_limit": "bids"}`,
`caller: Principal`) and import nothing from here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.accounts import service as accounts
from marketplace.accounts.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_token_is_valid,
    new_csrf_token,
    session_principal,
)
from marketplace.connections import acquire
from marketplace.errors import send_problem
from marketplace.ratelimit import seconds_until_allowed
from rights.identity import Principal, Role

log = logging.getLogger("marketplace.requests")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_BYTES = 64 * 1024


def _headers(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header counts as no cookies
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, list[Any]]:
    """Read the whole body (up to `limit`), keeping the messages to replay to the app."""
    chunks: list[bytes] = []
    messages: list[Any] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            break
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def security_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        state = scope["app"].state
        headers = _headers(scope)
        cookies = _cookies(headers)

        principal: Principal | None = None
        via: str | None = None
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            conn = await acquire(state)
            try:
                principal = await accounts.principal_for_token(conn, authorization[7:].strip())
            finally:
                await state.pool.release(conn)
            if principal is None:
                await send_problem(send, 401, "the API token is unknown or revoked")
                return
            via = "token"
        elif SESSION_COOKIE in cookies:
            principal = await session_principal(state.redis, cookies[SESSION_COOKIE])
            via = "session" if principal else None
        scope["user"] = principal
        scope["auth"] = via

        csrf_token = cookies.get(CSRF_COOKIE)
        issue_csrf_cookie = not csrf_token_is_valid(state.settings.secret_key, csrf_token)
        if issue_csrf_cookie:
            csrf_token = new_csrf_token(state.settings.secret_key)
        scope.setdefault("state", {})["csrf_token"] = csrf_token

        if scope["type"] == ScopeType.WEBSOCKET:
            # Browsers send cookies on cross-site websocket handshakes: only our own pages may use them.
            origin = headers.get("origin")
            if via == "session" and origin and urlsplit(origin).netloc != headers.get("host"):
                await send(
                    {"type": "websocket.close", "code": 4403, "reason": "cross-origin websocket refused"}
                )
                return
            await app(scope, receive, send)
            return

        method = scope["method"]
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if method in UNSAFE_METHODS and via != "token" and (via == "session" or content_type in FORM_TYPES):
            supplied = headers.get(CSRF_HEADER)
            if supplied is None and content_type == "application/x-www-form-urlencoded":
                body, messages = await _read_body(receive, MAX_FORM_BYTES)
                supplied = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [None])[0]
                receive = _replay(messages, receive)
            if supplied is None or supplied != cookies.get(CSRF_COOKIE) or issue_csrf_cookie:
                await send_problem(
                    send, 403, "missing or wrong CSRF token: reload the page and submit the form again"
                )
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and issue_csrf_cookie:
                cookie = f"{CSRF_COOKIE}={csrf_token}; Path=/; SameSite=Lax" + (
                    "; Secure" if state.settings.cookie_secure else ""
                )
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        started = time.perf_counter()
        status_holder: dict[str, int] = {}

        async def send_and_log(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send_with_cookie(message)

        try:
            await app(scope, receive, send_and_log)
        finally:
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status_holder.get("status"),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": str(principal.user_id) if principal else None,
                },
            )

    return middleware


def _replay(messages: list[Any], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    roles: list[str] | None = handler.opt.get("roles")
    if roles is None:
        return
    principal: Principal | None = connection.scope.get("user")
    if principal is None:
        raise NotAuthorizedException("sign in first")
    if principal.role is Role.ADMIN or principal.role.value in roles:
        return
    needed = " or ".join(role.replace("_", " ") for role in roles)
    raise PermissionDeniedException(
        f"this needs {_article(needed)} {needed} account; you are signed in as "
        f"{_article(principal.role.value)} {principal.role.value.replace('_', ' ')}"
    )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


async def rate_limit_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    bucket: str | None = handler.opt.get("rate_limit")
    if bucket is None:
        return
    state = connection.app.state
    limit, window = state.rate_limits[bucket]
    principal: Principal | None = connection.scope.get("user")
    who = (
        str(principal.user_id) if principal else (connection.client.host if connection.client else "unknown")
    )
    wait = await seconds_until_allowed(state.redis, f"{bucket}:{who}", limit, window)
    if wait:
        raise TooManyRequestsException(
            detail=f"too many {bucket.replace('_', ' ')} attempts: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def provide_caller(scope: Scope) -> Principal:
    principal: Principal | None = scope.get("user")
    if principal is None:
        raise NotAuthorizedException("sign in first")
    return principal


def provide_optional_caller(scope: Scope) -> Principal | None:
    principal: Principal | None = scope.get("user")
    return principal


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None] | None]
GUARDS: list[Guard] = [role_guard, rate_limit_guard]
