"""Accounts over HTTP: register, sign in and out, tokens, CSRF, rate limits, role guards."""

import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from litestar import Litestar

from tests.conftest import TEST_PASSWORD, SignIn


def registration(**overrides: str) -> dict[str, str]:
    suffix = secrets.token_hex(4)
    body = {
        "email": f"new-{suffix}@example.test",
        "password": "a long enough password",
        "display_name": "New Person",
        "organisation_name": f"New Org {suffix}",
        "organisation_kind": "agency",
        "role": "buyer",
    }
    return body | overrides


def csrf_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["mp_csrf"]}


async def test_register_signs_the_new_user_in(client: httpx.AsyncClient) -> None:
    body = registration()
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == body["email"]
    assert response.json()["organisation"]["name"] == body["organisation_name"]
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=lax" in response.headers["set-cookie"].lower()
    me = await client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["user"]["role"] == "buyer"


async def test_password_is_stored_only_as_an_argon2_hash(client: httpx.AsyncClient, db: object) -> None:
    body = registration()
    assert (await client.post("/api/auth/register", json=body)).status_code == 201
    stored = await db.fetchval("SELECT password_hash FROM users WHERE email = $1", body["email"])  # type: ignore[attr-defined]
    assert stored.startswith("$argon2id$")
    assert body["password"] not in stored


async def test_admin_role_cannot_be_self_registered(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json=registration(role="admin"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_existing_organisation_name_cannot_be_joined_by_registering(client: httpx.AsyncClient) -> None:
    first = registration()
    assert (await client.post("/api/auth/register", json=first)).status_code == 201
    again = registration(organisation_name=first["organisation_name"].upper())
    response = await client.post("/api/auth/register", json=again, headers=csrf_headers(client))
    assert response.status_code == 409
    assert "ask one of its members" in response.json()["detail"]


async def test_duplicate_email_is_refused(client: httpx.AsyncClient) -> None:
    first = registration()
    assert (await client.post("/api/auth/register", json=first)).status_code == 201
    response = await client.post(
        "/api/auth/register", json=registration(email=first["email"]), headers=csrf_headers(client)
    )
    assert response.status_code == 409


async def test_login_and_logout(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    user = await sign_in("buyer")
    response = await client.post("/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert (await client.get("/api/me")).status_code == 200

    logout = await client.post("/api/auth/logout", headers=csrf_headers(client))
    assert logout.status_code == 204
    assert (await client.get("/api/me")).status_code == 401


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    user = await sign_in("buyer")
    wrong_password = await client.post(
        "/api/auth/login", json={"email": user.email, "password": "not the password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.test", "password": "whatever"}
    )
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json()["detail"] == unknown.json()["detail"] == "wrong email or password"


@pytest.fixture
async def strict_login_limit(app: Litestar) -> AsyncIterator[None]:
    saved = app.state.rate_limits["login"]
    app.state.rate_limits["login"] = (3, 60)
    yield
    app.state.rate_limits["login"] = saved


async def test_login_attempts_are_rate_limited(app: Litestar, strict_login_limit: None) -> None:
    transport = httpx.ASGITransport(
        app=app, client=(f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}", 1)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as attacker:
        statuses = [
            (
                await attacker.post("/api/auth/login", json={"email": "x@example.test", "password": "guess"})
            ).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        limited = await attacker.post(
            "/api/auth/login", json={"email": "x@example.test", "password": "guess"}
        )
        assert int(limited.headers["retry-after"]) >= 1
        assert "too many login attempts" in limited.json()["detail"]


async def test_cookie_session_write_without_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/auth/register", json=registration())).status_code == 201
    refused = await client.post("/api/auth/logout")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    forged = await client.post("/api/auth/logout", headers={"X-CSRF-Token": "forged.token"})
    assert forged.status_code == 403
    assert (await client.get("/api/me")).status_code == 200, "the refused logout must not have signed us out"


async def test_bearer_token_authenticates_scripts_without_csrf(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    user = await sign_in("rights_holder")
    issued = await client.post(
        "/api/auth/tokens", json={"name": "ci script", "email": user.email, "password": TEST_PASSWORD}
    )
    assert issued.status_code == 201
    token = issued.json()["token"]
    async with httpx.AsyncClient(
        transport=client._transport,
        base_url="http://testserver.local",
        headers={"Authorization": f"Bearer {token}"},
    ) as script:
        assert (await script.get("/api/me")).json()["user"]["email"] == user.email
        revoked = await script.delete(f"/api/auth/tokens/{issued.json()['id']}")
        assert revoked.status_code == 204
        after = await script.get("/api/me")
        assert after.status_code == 401
        assert "unknown or revoked" in after.json()["detail"]


async def test_unknown_bearer_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me", headers={"Authorization": "Bearer mkt_not-a-real-token"})
    assert response.status_code == 401


async def test_colleague_is_invited_to_the_callers_organisation(
    sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    owner = await sign_in("rights_holder")
    response = await owner.client.post(
        "/api/organisation/members",
        json={"email": f"colleague-{secrets.token_hex(3)}@example.test", "role": "rights_holder"},
    )
    assert response.status_code == 201, response.text
    joined = await client.post(
        "/api/invitations/accept",
        json={
            "token": response.json()["token"],
            "display_name": "Colleague",
            "password": "another long password",
        },
        headers=csrf_headers(client) if "mp_csrf" in client.cookies else {},
    )
    assert joined.status_code == 201, joined.text
    assert joined.json()["organisation"]["id"] == str(owner.principal.organisation_id)


async def test_role_guard_refuses_with_the_reason(sign_in: SignIn) -> None:
    buyer = await sign_in("buyer")
    response = await buyer.client.get("/api/admin/audit/verify")
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs an admin account; you are signed in as a buyer"


async def test_role_guard_lets_the_role_through(sign_in: SignIn) -> None:
    admin = await sign_in("admin")
    response = await admin.client.get("/api/admin/audit/verify")
    assert response.status_code == 200
    assert response.json()["events_checked"] >= 1


async def test_anonymous_caller_is_asked_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/admin/audit/verify")
    assert response.status_code == 401


async def test_token_use_is_recorded_without_a_write_on_every_request(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    script = await sign_in("buyer")
    assert (await script.client.get("/api/me")).status_code == 200
    first = await pg_pool.fetchval(
        "SELECT last_used_at FROM api_tokens WHERE token_hash = sha256($1::text::bytea)", script.token
    )
    assert first is not None
    assert (await script.client.get("/api/me")).status_code == 200
    again = await pg_pool.fetchval(
        "SELECT last_used_at FROM api_tokens WHERE token_hash = sha256($1::text::bytea)", script.token
    )
    assert again == first, "a second use within the minute must not rewrite the row"
