"""Account endpoints: register, sign in and out, API tokens, colleagues, who am I."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException
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
    SESSION_COOKIE,
    SESSION_SECONDS,
    close_session,
    close_user_sessions,
    open_session,
)
from marketplace.accounts.store import principal_of
from rights.identity import Principal


def session_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value=token, httponly=True, samesite="lax", secure=secure,
        max_age=SESSION_SECONDS, path="/",
    )  # fmt: skip


def expired_session_cookie() -> Cookie:
    return Cookie(key=SESSION_COOKIE, value="", max_age=0, httponly=True, samesite="lax", path="/")


async def start_session(request: Request[Any, Any, Any], principal: Principal) -> Cookie:
    token = await open_session(request.app.state.redis, principal)
    return session_cookie(token, secure=request.app.state.settings.cookie_secure)


async def end_session(request: Request[Any, Any, Any]) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await close_session(request.app.state.redis, token)


class AccountController(Controller):
    path = "/api"
    tags: Sequence[str] | None = ("accounts",)

    @post("/auth/register", status_code=HTTP_201_CREATED, opt={"rate_limit": "login"})
    async def register(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Registration
    ) -> Response[Me]:
        principal = principal_of(await service.register(conn, data))
        me = await service.me(conn, principal)
        return Response(me, status_code=HTTP_201_CREATED, cookies=[await start_session(request, principal)])

    @post("/auth/login", status_code=HTTP_200_OK, opt={"rate_limit": "login"})
    async def login(
        self, request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Credentials
    ) -> Response[Me]:
        principal = await service.authenticate(conn, data.email, data.password)
        return Response(await service.me(conn, principal), cookies=[await start_session(request, principal)])

    @post("/auth/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(self, request: Request[Any, Any, Any]) -> Response[None]:
        await end_session(request)
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[expired_session_cookie()])

    @get("/me")
    async def me(self, conn: asyncpg.Connection, caller: Principal) -> Me:
        return await service.me(conn, caller)

    @post("/auth/tokens", status_code=HTTP_201_CREATED, opt={"rate_limit": "login"})
    async def issue_token(
        self, conn: asyncpg.Connection, optional_caller: Principal | None, data: TokenRequest
    ) -> IssuedToken:
        if data.email is not None and data.password is not None:
            principal = await service.authenticate(conn, data.email, data.password)
        elif optional_caller is not None:
            principal = optional_caller
        else:
            raise NotAuthorizedException("sign in, or send email and password, to get an API token")
        return await service.issue_token(conn, principal, data.name)

    @delete("/auth/tokens/{token_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def revoke_token(self, conn: asyncpg.Connection, caller: Principal, token_id: UUID) -> None:
        await service.revoke_token(conn, caller, token_id)

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
        return Response(me, status_code=HTTP_201_CREATED, cookies=[await start_session(request, principal)])


route_handlers = [AccountController]
