"""Pages that belong to no single business area: the home page."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.response import File, Redirect, Template

from rights.identity import Principal, Role
from web import STATIC_DIR

# Where each kind of user works; the home page is for people not signed in.
WORKSPACES = {Role.BUYER: "/licences", Role.RIGHTS_HOLDER: "/workspace"}


class DemoSignIn(msgspec.Struct, frozen=True, kw_only=True):
    """A demo account the home page offers when the demo data is loaded (its password is published)."""

    email: str
    display_name: str
    role: Role
    organisation: str


@get("/", include_in_schema=False)
async def home(
    optional_caller: Principal | None, demo_sign_ins: list[DemoSignIn], demo_password: str
) -> Template | Redirect:
    if optional_caller is not None and optional_caller.role in WORKSPACES:
        return Redirect(WORKSPACES[optional_caller.role])
    return Template("home.html", context={"demo_sign_ins": demo_sign_ins, "demo_password": demo_password})


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> File:
    """For the browsers and tools that ask for /favicon.ico whatever the page says."""
    return File(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", content_disposition_type="inline")


page_handlers = [home, favicon]
