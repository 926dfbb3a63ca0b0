"""Organisation members over HTTP: the first user is the organisation admin, only admins invite members
or grant roles, invitations create no account until accepted and give nothing away about addresses."""

from __future__ import annotations

import secrets

import asyncpg
import httpx

from marketplace.migrations import upgrade_async
from tests.conftest import TEST_PASSWORD, SignedIn, SignIn
from tests.foundation.test_accounts import registration


def _email() -> str:
    return f"invitee-{secrets.token_hex(4)}@example.test"


async def _invite(admin: SignedIn, email: str, role: str = "rights_holder") -> httpx.Response:
    return await admin.client.post("/api/organisation/members", json={"email": email, "role": role})


async def _organisation(signed_in: SignedIn, pg_pool: asyncpg.Pool) -> str:
    name: str = await pg_pool.fetchval(
        "SELECT name FROM organisations WHERE id = $1", signed_in.principal.organisation_id
    )
    return name


async def test_the_first_user_of_an_organisation_is_its_admin(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json=registration())
    assert response.status_code == 201, response.text
    assert response.json()["user"]["organisation_admin"] is True


async def test_a_member_who_is_not_organisation_admin_cannot_add_members_or_grant_roles(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    admin = await sign_in("rights_holder")
    buyer = await sign_in("buyer", organisation=await _organisation(admin, pg_pool))
    assert (await buyer.client.get("/api/me")).json()["user"]["organisation_admin"] is False

    added = await _invite(buyer, _email())
    assert added.status_code == 403
    assert "only an organisation admin" in added.json()["detail"]
    promoted = await buyer.client.put(f"/api/organisation/members/{buyer.principal.user_id}",
                                      json={"role": "rights_holder"})  # fmt: skip
    assert promoted.status_code == 403
    assert (await buyer.client.get("/api/me")).json()["user"]["role"] == "buyer"


async def test_organisation_admin_grants_roles_but_never_removes_the_last_admin(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    admin = await sign_in("rights_holder")
    colleague = await sign_in("buyer", organisation=await _organisation(admin, pg_pool))
    granted = await admin.client.put(f"/api/organisation/members/{colleague.principal.user_id}",
                                     json={"role": "rights_holder"})  # fmt: skip
    assert granted.status_code == 200 and granted.json()["role"] == "rights_holder"
    last = await admin.client.put(f"/api/organisation/members/{admin.principal.user_id}",
                                  json={"role": "rights_holder", "organisation_admin": False})  # fmt: skip
    assert last.status_code == 409 and "at least one admin" in last.json()["detail"]
    stranger = await sign_in("rights_holder")
    other = await admin.client.put(f"/api/organisation/members/{stranger.principal.user_id}",
                                   json={"role": "buyer"})  # fmt: skip
    assert other.status_code == 404


async def test_an_invitation_creates_no_account_and_answers_alike_for_known_addresses(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    admin, somebody = await sign_in("rights_holder"), await sign_in("buyer")
    unknown = _email()
    fresh = await _invite(admin, unknown)
    known = await _invite(admin, somebody.email)
    assert fresh.status_code == known.status_code == 201, fresh.text
    assert fresh.json().keys() == known.json().keys()
    assert fresh.json()["token"] != known.json()["token"]
    assert await pg_pool.fetchval("SELECT count(*) FROM users WHERE email = $1", unknown) == 0
    stored = await pg_pool.fetchval(
        "SELECT token_hash FROM organisation_invitations WHERE email = $1", unknown
    )
    assert fresh.json()["token"].encode() not in bytes(stored)


async def test_the_invitee_joins_with_the_token_once(app: object, sign_in: SignIn) -> None:
    admin = await sign_in("rights_holder")
    email = _email()
    token = (await _invite(admin, email, role="buyer")).json()["token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as invitee:  # type: ignore[arg-type]
        await invitee.get("/health")
        joined = await invitee.post("/api/invitations/accept",
                                    json={"token": token, "display_name": "New Colleague", "password": TEST_PASSWORD},
                                    headers={"X-CSRF-Token": invitee.cookies.get("mp_csrf", "")})  # fmt: skip
        assert joined.status_code == 201, joined.text
        me = joined.json()
        assert me["user"]["email"] == email and me["user"]["role"] == "buyer"
        assert me["organisation"]["id"] == str(admin.principal.organisation_id)
        assert me["user"]["organisation_admin"] is False
        again = await invitee.post("/api/invitations/accept",
                                   json={"token": token, "display_name": "Thief", "password": TEST_PASSWORD},
                                   headers={"X-CSRF-Token": invitee.cookies.get("mp_csrf", "")})  # fmt: skip
        assert again.status_code == 400 and "used already or expired" in again.json()["detail"]


async def test_the_invitation_page_creates_the_account_and_signs_in(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in("rights_holder")
    token = (await _invite(admin, _email())).json()["token"]
    page = await client.get("/invitations/accept", params={"token": token}, headers={"accept": "text/html"})
    assert page.status_code == 200 and token in page.text
    joined = await client.post("/invitations/accept", data={
        "_csrf": client.cookies["mp_csrf"], "token": token, "display_name": "Page Joiner", "password": TEST_PASSWORD,
    })  # fmt: skip
    assert joined.status_code in (302, 303), joined.text
    assert (await client.get("/api/me")).json()["user"]["display_name"] == "Page Joiner"


async def test_member_invitations_are_rate_limited(sign_in: SignIn) -> None:
    admin = await sign_in("rights_holder")
    answers = [(await _invite(admin, _email())).status_code for _ in range(21)]
    assert answers[:20] == [201] * 20
    assert answers[20] == 429


async def test_the_migration_makes_each_existing_organisations_earliest_user_its_admin(
    scratch_database: str,
) -> None:
    await upgrade_async(scratch_database, "0001_foundation")
    conn = await asyncpg.connect(scratch_database)
    try:
        org = await conn.fetchval(
            "INSERT INTO organisations (name, kind) VALUES ('Old Label', 'label') RETURNING id"
        )
        for index, email in enumerate(("first@example.test", "second@example.test")):
            await conn.execute(
                """INSERT INTO users (organisation_id, email, display_name, role, password_hash, created_at)
                   VALUES ($1, $2, 'Someone', 'buyer', 'x', now() + $3 * interval '1 minute')""",
                org, email, index,
            )  # fmt: skip
        await upgrade_async(scratch_database, "accounts@head")
        admins = await conn.fetch("SELECT email FROM users WHERE organisation_admin")
        assert [r["email"] for r in admins] == ["first@example.test"]
    finally:
        await conn.close()


async def test_a_role_change_ends_the_members_sessions(app: object, sign_in: SignIn) -> None:
    admin = await sign_in("rights_holder")
    token = (await _invite(admin, _email(), role="rights_holder")).json()["token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as member:  # type: ignore[arg-type]
        await member.get("/health")
        joined = await member.post("/api/invitations/accept",
                                   json={"token": token, "display_name": "Soon A Buyer", "password": TEST_PASSWORD},
                                   headers={"X-CSRF-Token": member.cookies.get("mp_csrf", "")})  # fmt: skip
        assert joined.status_code == 201, joined.text
        assert (await member.get("/api/me")).json()["user"]["role"] == "rights_holder"
        demoted = await admin.client.put(f"/api/organisation/members/{joined.json()['user']['id']}",
                                         json={"role": "buyer"})  # fmt: skip
        assert demoted.status_code == 200, demoted.text
        assert (await member.get("/api/me")).status_code == 401
