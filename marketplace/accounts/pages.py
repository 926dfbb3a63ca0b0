"""Sign-in, registration and sign-out pages (HTML forms; CSRF checked by the security middleware)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from marketplace.accounts import service
from marketplace.accounts.api import (
    authenticate,
    end_session,
    ensure_presession,
    expired_session_cookie,
    start_session,
)
from marketplace.accounts.model import (
    Credentials,
    InvitationAcceptance,
    OrganisationKind,
    Registration,
    SelfServiceRole,
)
from marketplace.accounts.store import principal_of

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted link cannot bounce a user to another site after sign-in."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _form_error(exc: Exception) -> str:
    if isinstance(exc, msgspec.ValidationError):
        return str(exc).replace("Object ", "").replace("`$.", "`")
    return str(exc)


@get("/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any],
    next: str | None = None,
    email: Annotated[str, Parameter(max_length=320)] = "",
) -> Template:
    """`email` fills the form in (the home page's demo sign-ins link here with theirs)."""
    return Template(
        "accounts/login.html",
        context={"next": _safe_next(next), "error": None, "email": email},
        cookies=await ensure_presession(request),
    )


@post("/login", include_in_schema=False, opt={"rate_limit": "login"})
async def login_form(request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Form) -> Response[Any]:
    target = _safe_next(data.get("next"))
    try:
        credentials = msgspec.convert(data, Credentials, strict=False)
        principal = await authenticate(request, conn, credentials.email, credentials.password)
    except (msgspec.ValidationError, service.InvalidCredentials) as exc:
        context = {"next": target, "error": _form_error(exc), "email": data.get("email", "")}
        return Template("accounts/login.html", context=context, status_code=401)
    return Redirect(target, cookies=await start_session(request, principal))


@get("/register", include_in_schema=False)
async def register_page(request: Request[Any, Any, Any]) -> Template:
    return Template(
        "accounts/register.html",
        context=_register_context({}, None),
        cookies=await ensure_presession(request),
    )


def _register_context(values: dict[str, str], error: str | None) -> dict[str, Any]:
    return {
        "values": values,
        "error": error,
        "kinds": [kind.value for kind in OrganisationKind],
        "roles": [role.value for role in SelfServiceRole],
    }


@post("/register", include_in_schema=False, opt={"rate_limit": "login"})
async def register_form(
    request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Form
) -> Response[Any]:
    fields = {key: value for key, value in data.items() if key in Registration.__struct_fields__}
    try:
        registration = msgspec.convert(fields, Registration, strict=False)
        user = await service.register(conn, registration)
    except (
        msgspec.ValidationError,
        service.WeakPassword,
        service.EmailTaken,
        service.OrganisationTaken,
    ) as exc:
        shown = {key: value for key, value in fields.items() if key != "password"}
        return Template(
            "accounts/register.html", context=_register_context(shown, _form_error(exc)), status_code=400
        )
    return Redirect("/", cookies=await start_session(request, principal_of(user)))


@get("/invitations/accept", include_in_schema=False)
async def invitation_page(request: Request[Any, Any, Any], token: str = "") -> Template:
    return Template(
        "accounts/accept_invitation.html",
        context={"token": token, "values": {}, "error": None},
        cookies=await ensure_presession(request),
    )


@post("/invitations/accept", include_in_schema=False, opt={"rate_limit": "login"})
async def invitation_form(
    request: Request[Any, Any, Any], conn: asyncpg.Connection, data: Form
) -> Response[Any]:
    fields = {key: value for key, value in data.items() if key in InvitationAcceptance.__struct_fields__}
    try:
        acceptance = msgspec.convert(fields, InvitationAcceptance, strict=False)
        user = await service.accept_invitation(conn, acceptance, datetime.now(UTC))
    except (msgspec.ValidationError, service.EmailTaken, service.InvitationUnusable) as exc:
        context = {"token": data.get("token", ""), "values": {"display_name": data.get("display_name", "")},
                   "error": _form_error(exc)}  # fmt: skip
        return Template("accounts/accept_invitation.html", context=context, status_code=400)
    return Redirect("/", cookies=await start_session(request, principal_of(user)))


@post("/logout", include_in_schema=False)
async def logout_form(request: Request[Any, Any, Any]) -> Response[Any]:
    await end_session(request)
    return Redirect("/", cookies=[expired_session_cookie(request)])


page_handlers = [
    login_page,
    login_form,
    register_page,
    register_form,
    invitation_page,
    invitation_form,
    logout_form,
]
