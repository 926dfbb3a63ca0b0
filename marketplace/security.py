"""Who is calling and may they: principal resolution, CSRF, JSON, role and rate-limit guards, `caller` injection.

Principals are remembered per process for a few seconds (`marketplace.principals`), never past a revocation.

Business packages declare what a handler needs (`opt={"roles": [...], "rate_limit": "bids"}`,
`caller: Principal`) and import nothing from here.
"""

from __future__ import annotations

import functools
import logging
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar.channels import ChannelsPlugin
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.params import BodyKwarg
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.accounts import service as accounts
from marketplace.accounts.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    cookie_name,
    credential_id,
    csrf_token,
    csrf_token_matches,
    our_cookies,
    presession_exists,
    session_principal,
)
from marketplace.addresses import scope_counted_address
from marketplace.bodies import BodyRefused, read_body, refuse_before_body, replay_body
from marketplace.connections import acquire
from marketplace.errors import send_problem
from marketplace.principals import Via, remembered
from marketplace.ratelimit import seconds_until_allowed
from marketplace.signout import close_when_revoked
from rights.identity import Principal, Role

log = logging.getLogger("marketplace.requests")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PER_ADDRESS_BUCKETS = frozenset({"login", "licence_checks"})


def _headers(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header counts as no cookies
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def security_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        state = scope["app"].state
        headers = _headers(scope)
        cookies = our_cookies(_cookies(headers), secure=state.settings.cookie_secure)

        principal: Principal | None = None
        via: str | None = None
        credential: str | None = None  # the secret that signed the caller in: a token or a session id
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            credential = authorization[7:].strip()
            principal = await remembered(
                state.principals, Via.TOKEN, credential_id(credential),
                functools.partial(_principal_for_token, state, credential),
            )  # fmt: skip
            if principal is None:
                await send_problem(send, 401, "the API token is unknown or revoked")
                return
            via = "token"
        elif SESSION_COOKIE in cookies:
            session = cookies[SESSION_COOKIE]
            principal = await remembered(
                state.principals, Via.SESSION, credential_id(session),
                functools.partial(session_principal, state.redis, session),
            )  # fmt: skip
            via = "session" if principal else None
            credential = session if principal else None
        scope["user"] = principal
        scope["auth"] = via

        # Every CSRF token belongs to one session, or before sign-in to one pre-session (made when a
        # sign-in or registration form is shown): a token taken from another browser never matches.
        presession = cookies.get(PRESESSION_COOKIE) if via != "session" else None
        expected_csrf: str | None = None
        if via == "session":
            expected_csrf = csrf_token(state.settings.secret_key, session=credential)
        elif presession:
            expected_csrf = csrf_token(state.settings.secret_key, presession=presession)
        scope.setdefault("state", {})["csrf_token"] = expected_csrf or ""

        if scope["type"] == ScopeType.WEBSOCKET:
            # Browsers send cookies on cross-site websocket handshakes: only our own pages may use them.
            origin = headers.get("origin")
            if via == "session" and origin and urlsplit(origin).netloc != headers.get("host"):
                await send(
                    {"type": "websocket.close", "code": 4403, "reason": "cross-origin websocket refused"}
                )
                return
            if credential is None:
                await app(scope, receive, send)
                return
            await close_when_revoked(
                app, scope, receive, send, channels=scope["app"].plugins.get(ChannelsPlugin),
                credential=credential_id(credential),
                still_valid=lambda: _still_valid(state, via, credential),
            )  # fmt: skip
            return

        refuse_before_body(scope, role_guard)  # 401 or 403 before any body is read
        method = scope["method"]
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if method in UNSAFE_METHODS and via != "token" and (via == "session" or content_type in FORM_TYPES):
            supplied = headers.get(CSRF_HEADER)
            if supplied is None and content_type == "application/x-www-form-urlencoded":
                try:  # under the body middleware's limit and clocks, as this runs before it
                    body, gone = await read_body(receive, state.settings.json_limit_bytes, state.settings)
                except BodyRefused as refusal:
                    await send_problem(send, refusal.status, refusal.detail, close=True)
                    return
                if gone:
                    return
                supplied = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [None])[0]
                receive = replay_body(body, receive)
            valid = csrf_token_matches(expected_csrf, supplied)
            if valid and via != "session" and presession:  # a pre-session we issued and that is still open
                valid = await presession_exists(state.redis, presession)
            if not valid:
                await send_problem(
                    send,
                    403,
                    "missing or wrong CSRF token: reload the page and submit the form again",
                    close=True,  # a body other than a form is left unread
                )
                return

        csrf_cookie_name = cookie_name(CSRF_COOKIE, secure=state.settings.cookie_secure)

        async def send_with_cookie(message: Message) -> None:
            # Scripts read the token from this cookie; a response that signs in sets its own.
            if (
                message["type"] == "http.response.start"
                and expected_csrf
                and cookies.get(CSRF_COOKIE) != expected_csrf
                and not _sets_cookie(message, csrf_cookie_name)
            ):
                cookie = f"{csrf_cookie_name}={expected_csrf}; Path=/; SameSite=Lax" + (
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


async def _principal_for_token(state: Any, token: str) -> Principal | None:
    conn = await acquire(state)
    try:
        return await accounts.principal_for_token(conn, token)
    finally:
        await state.pool.release(conn)


def _sets_cookie(message: Message, name: str) -> bool:
    prefix = f"{name}=".encode()
    headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))  # type: ignore[call-overload]
    return any(key.lower() == b"set-cookie" and value.startswith(prefix) for key, value in headers)


async def _still_valid(state: Any, via: str | None, credential: str) -> bool:
    """Whether the session or API token a socket was opened with still signs anyone in, answered as a
    request with it would be (from the principal cache while revocations are heard): a thousand sockets
    sharing a token cost one lookup, not a thousand queries every 30 s."""
    if via == "session":
        look_up = functools.partial(session_principal, state.redis, credential)
        return await remembered(state.principals, Via.SESSION, credential_id(credential), look_up) is not None

    async def token_principal() -> Principal | None:  # waits for a connection, as a socket has time
        async with state.pool.acquire() as conn:
            return await accounts.principal_for_token(conn, credential)

    return (
        await remembered(state.principals, Via.TOKEN, credential_id(credential), token_principal) is not None
    )


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
    address = scope_counted_address(connection.scope, state.settings.trusted_proxies)
    # Sign-in attempts count per address whoever the caller claims to be: a session cookie must not
    # buy an attacker a fresh allowance.
    who = address if bucket in PER_ADDRESS_BUCKETS or principal is None else str(principal.user_id)
    wait = await seconds_until_allowed(state.redis, f"{bucket}:{who}", limit, window)
    if wait:
        raise TooManyRequestsException(
            detail=f"too many {bucket.replace('_', ' ')} attempts: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def _takes_json(handler: BaseRouteHandler) -> bool:
    if not isinstance(handler, HTTPRouteHandler):
        return False
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    body = data.kwarg_definition
    return not isinstance(body, BodyKwarg) or body.media_type == RequestEncodingType.JSON


def json_body_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A JSON write must say it is JSON: a form or `text/plain` post, which any site can make a browser
    send without asking, never reaches a JSON handler."""
    if connection.scope.get("method") not in UNSAFE_METHODS or not _takes_json(handler):
        return
    content_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        return
    raise ClientException(
        status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        detail=f"send the body as JSON with the header Content-Type: application/json "
        f"(got {content_type or 'no Content-Type'})",
    )


def provide_caller(scope: Scope) -> Principal:
    principal: Principal | None = scope.get("user")
    if principal is None:
        raise NotAuthorizedException("sign in first")
    return principal


def provide_optional_caller(scope: Scope) -> Principal | None:
    principal: Principal | None = scope.get("user")
    return principal


async def request_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every check a handler's declaration asks for, as one guard on the event loop: Litestar copies the
    handler once per guard it calls (three copies a bid), and runs a plain-function guard in a worker
    thread (two thread hand-offs for checks that take microseconds)."""
    json_body_guard(connection, handler)
    role_guard(connection, handler)
    await rate_limit_guard(connection, handler)


GUARDS = [request_guard]
