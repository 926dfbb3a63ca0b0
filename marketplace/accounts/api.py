"""Account endpoints: register, sign in and out, API tokens, colleagues, who am I."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from marketplace.accounts import service
from marketplace.accounts.model import (
    Credentials,
    InvitationAcceptance,
    IssuedInvitation,
    IssuedToken,
    Me,
    MemberRole,
    NewMember,
    Registration,
    TokenRequest,
    User,
)
from marketplace.accounts.sessions import (
    CSRF_COOKIE,
    PRESESSION_COOKIE,
    PRESESSION_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    announce_revocation,
    close_presession,
    close_session,
    close_user_sessions,
    cookie_name,
    csrf_token,
    open_presession,
    open_session,
    our_cookies,
    presession_exists,
)
from marketplace.accounts.store import principal_of
from marketplace.addresses import scope_counted_address
from marketplace.ratelimit import count_failure, forget_failures, seconds_blocked, seconds_until_allowed
from rights.identity import Principal


def session_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=cookie_name(SESSION_COOKIE, secure=secure), value=token, httponly=True, samesite="lax", secure=secure,
        max_age=SESSION_SECONDS, path="/",
    )  # fmt: skip


def csrf_cookie(token: str, *, secure: bool) -> Cookie:
    """The page's CSRF token, readable by scripts; what is checked is that it belongs to the session."""
    return Cookie(
        key=cookie_name(CSRF_COOKIE, secure=secure), value=token, samesite="lax", secure=secure, path="/"
    )


def _expired(name: str, *, secure: bool) -> Cookie:
    """A `__Host-` cookie is replaced, and so removed, only by one that is Secure as well."""
    return Cookie(
        key=cookie_name(name, secure=secure), value="", max_age=0, httponly=True, samesite="lax", secure=secure,
        path="/",
    )  # fmt: skip


def expired_session_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return _expired(SESSION_COOKIE, secure=request.app.state.settings.cookie_secure)


def _cookie(request: Request[Any, Any, Any], name: str) -> str | None:
    return our_cookies(request.cookies, secure=request.app.state.settings.cookie_secure).get(name)


async def start_session(request: Request[Any, Any, Any], principal: Principal) -> list[Cookie]:
    """Sign in with a new session id: whatever session or pre-session the browser had ends here,
    so an id planted or seen before sign-in is worth nothing after it."""
    redis, settings = request.app.state.redis, request.app.state.settings
    await end_session(request)
    presession = _cookie(request, PRESESSION_COOKIE)
    if presession:
        await close_presession(redis, presession)
    token = await open_session(redis, principal)
    return [
        session_cookie(token, secure=settings.cookie_secure),
        csrf_cookie(csrf_token(settings.secret_key, session=token), secure=settings.cookie_secure),
        _expired(PRESESSION_COOKIE, secure=settings.cookie_secure),
    ]


async def end_session(request: Request[Any, Any, Any]) -> None:
    token = _cookie(request, SESSION_COOKIE)
    if token:
        await close_session(request.app.state.redis, token)


async def _limit_presessions(request: Request[Any, Any, Any]) -> None:
    """New pre-sessions are counted per address: one client cannot fill Redis by asking for sign-in forms
    without keeping the cookie (a browser that keeps it makes one per two hours)."""
    limit, window = request.app.state.rate_limits["presessions"]
    address = scope_counted_address(request.scope, request.app.state.settings.trusted_proxies)
    wait = await seconds_until_allowed(request.app.state.redis, f"presessions:{address}", limit, window)
    if wait:
        raise TooManyRequestsException(
            detail=f"too many sign-in forms were opened from your address without keeping their cookie: "
            f"allow cookies, or try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


async def ensure_presession(request: Request[Any, Any, Any]) -> list[Cookie]:
    """Before a sign-in or registration form is shown: the anonymous pre-session its CSRF token is bound
    to (kept when the browser has a live one), and that token for the form."""
    if request.scope.get("auth") == "session":
        return []
    redis, settings = request.app.state.redis, request.app.state.settings
    presession = _cookie(request, PRESESSION_COOKIE)
    cookies: list[Cookie] = []
    if not presession or not await presession_exists(redis, presession):
        await _limit_presessions(request)
        presession = await open_presession(redis)
        cookie = Cookie(
            key=cookie_name(PRESESSION_COOKIE, secure=settings.cookie_secure), value=presession, httponly=True, samesite="lax",
            secure=settings.cookie_secure, max_age=PRESESSION_SECONDS, path="/",
        )  # fmt: skip
        cookies.append(cookie)
    token = csrf_token(settings.secret_key, presession=presession)
    request.scope.setdefault("state", {})["csrf_token"] = token
    return [*cookies, csrf_cookie(token, secure=settings.cookie_secure)]


async def authenticate(
    request: Request[Any, Any, Any], conn: asyncpg.Connection, email: str, password: str
) -> Principal:
    """Sign-in by password, limited per account: after too many failures the account refuses every
    attempt (right or wrong) until the window passes, whichever address or session they come from."""
    redis = request.app.state.redis
    limit, window = request.app.state.rate_limits["login_failures"]
    account = "login:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()
    wait = await seconds_blocked(redis, account, limit)
    if wait:
        raise TooManyRequestsException(
            detail=f"too many failed sign-ins for this account: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        principal = await service.authenticate(conn, email, password)
    except service.InvalidCredentials:
        await count_failure(redis, account, window)
        raise
    await forget_failures(redis, account)
    return principal


class AccountController(Controller):
    path = "/api"
    tags: Sequence[str] | None = ("accounts",)

    @post("/auth/register", status_code=HTTP_201_CREATED, opt={"rate_limit": "login"})
    async def register(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Registration
    ) -> Response[Me]:
        principal = principal_of(await service.register(conn, data))
        me = await service.me(conn, principal)
        return Response(me, status_code=HTTP_201_CREATED, cookies=await start_session(request, principal))

    @post("/auth/login", status_code=HTTP_200_OK, opt={"rate_limit": "login"})
    async def login(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Credentials
    ) -> Response[Me]:
        principal = await authenticate(request, conn, data.email, data.password)
        return Response(await service.me(conn, principal), cookies=await start_session(request, principal))

    @post("/auth/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(self, request: Request[Any, Any, Any]) -> Response[None]:
        await end_session(request)
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[expired_session_cookie(request)])

    @get("/me")
    async def me(self, conn: asyncpg.Connection, caller: Principal) -> Me:
        return await service.me(conn, caller)

    @post("/auth/tokens", status_code=HTTP_201_CREATED, opt={"rate_limit": "login"})
    async def issue_token(
        self,
        request: Request[Any, Any, Any],
        conn: asyncpg.Connection,
        optional_caller: Principal | None,
        data: TokenRequest,
    ) -> IssuedToken:
        if data.email is not None and data.password is not None:
            principal = await authenticate(request, conn, data.email, data.password)
        elif optional_caller is not None:
            principal = optional_caller
        else:
            raise NotAuthorizedException("sign in, or send email and password, to get an API token")
        return await service.issue_token(conn, principal, data.name)

    @delete("/auth/tokens/{token_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def revoke_token(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, caller: Principal, token_id: UUID
    ) -> None:
        token_hash = await service.revoke_token(conn, caller, token_id)
        await announce_revocation(request.app.state.redis, token_hash.hex())

    @post("/organisation/members", status_code=HTTP_201_CREATED, opt={"rate_limit": "invitations"})
    async def invite_member(
        self, conn: asyncpg.Connection, caller: Principal, data: NewMember
    ) -> IssuedInvitation:
        """Invite a colleague (organisation admins only). No account is created: the invitee accepts with
        the token, a name and a password at `POST /api/invitations/accept` or on the page
        `/invitations/accept?token=…`. The platform sends no e-mail: the token is returned here once, to you,
        to pass on; only its hash is kept and it expires after 7 days. The answer is the same whether or not
        the address has an account already."""
        return await service.invite_member(conn, caller, data, datetime.now(UTC))

    @put("/organisation/members/{user_id:uuid}", opt={"rate_limit": "invitations"})
    async def set_member_role(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, caller: Principal, user_id: UUID,
        data: MemberRole,
    ) -> User:  # fmt: skip
        """Change a member's role or organisation-admin flag (organisation admins only); the member's
        sessions end, so the new role applies from the next sign-in (API tokens follow it at once)."""
        user = await service.set_member_role(conn, caller, user_id, data)
        await close_user_sessions(request.app.state.redis, principal_of(user))
        return user

    @post("/invitations/accept", status_code=HTTP_201_CREATED, opt={"rate_limit": "login"})
    async def accept_invitation(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, data: InvitationAcceptance
    ) -> Response[Me]:
        """Join the organisation that invited you, with the token, your name and a password; signs you in."""
        principal = principal_of(await service.accept_invitation(conn, data, datetime.now(UTC)))
        me = await service.me(conn, principal)
        return Response(me, status_code=HTTP_201_CREATED, cookies=await start_session(request, principal))


route_handlers = [AccountController]
