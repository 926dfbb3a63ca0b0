"""The home page: signed-in people land on their workspace; the demo's sign-ins are offered once it is loaded."""

from __future__ import annotations

import asyncpg
import httpx

from marketplace import demo
from rights.identity import Role
from tests.conftest import SignIn

HTML = {"Accept": "text/html"}


async def test_signed_in_people_land_on_their_workspace(sign_in: SignIn) -> None:
    buyer, label = await sign_in("buyer"), await sign_in("rights_holder")
    assert (await buyer.client.get("/", headers=HTML)).headers["location"] == "/licences"
    assert (await label.client.get("/", headers=HTML)).headers["location"] == "/workspace"


async def test_the_demo_sign_ins_are_those_of_the_demo_accounts_that_exist(db: asyncpg.Connection) -> None:
    if not await db.fetchval("SELECT 1 FROM users WHERE email = 'buyer@demo.test'"):
        organisation = await db.fetchval(
            "INSERT INTO organisations (name, kind) VALUES ('Brightside Agency', 'agency') RETURNING id"
        )
        await db.execute(
            """INSERT INTO users (organisation_id, email, display_name, role, password_hash)
               VALUES ($1, 'buyer@demo.test', 'Bea Buyer', 'buyer', 'not-a-hash')""",
            organisation,
        )
    found = {s.email: s for s in await demo.sign_ins(db)}
    assert found["buyer@demo.test"].organisation == "Brightside Agency"
    assert found["buyer@demo.test"].role is Role.BUYER


async def test_a_demo_sign_in_link_fills_the_login_form_in(
    client: httpx.AsyncClient,
) -> None:
    login = await client.get("/login", params={"email": "buyer@demo.test"}, headers=HTML)
    assert 'value="buyer@demo.test"' in login.text
