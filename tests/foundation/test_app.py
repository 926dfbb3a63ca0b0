"""The app as a browser and a script meet it: health, problem details, pages, forms with CSRF."""

import httpx
from redis.asyncio import Redis

from marketplace import heartbeat
from tests.conftest import TEST_PASSWORD, SignIn


async def test_health_reports_both_stores_and_a_worker_up(client: httpx.AsyncClient, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    await heartbeat.beat(redis, "test-worker")
    await redis.aclose()
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "up", "redis": "up", "worker": "up"}


async def test_health_is_503_when_no_worker_has_been_seen(client: httpx.AsyncClient, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    await redis.delete(heartbeat.HEARTBEATS)
    await redis.aclose()
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "postgres": "up",
        "redis": "up",
        "worker": "down: never seen",
    }


async def test_openapi_schema_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/auth/login" in response.json()["paths"]


async def test_malformed_json_gets_problem_details_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login",
        content=b'{"email": "a@b.c", "password":',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["title"] == "Bad request"
    assert "truncated" in problem["detail"]
    assert problem["instance"] == "/api/auth/login"


async def test_wrong_field_type_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"email": 5, "password": "x"})
    assert response.status_code == 400
    assert "email" in response.text


async def test_unknown_page_is_a_friendly_html_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Back to the start page" in response.text


async def test_home_and_static_files_are_served_locally(client: httpx.AsyncClient) -> None:
    home = await client.get("/", headers={"accept": "text/html"})
    assert home.status_code == 200
    assert 'href="/static/css/site.css"' in home.text
    assert "://" not in home.text.split("<body>")[0].replace("http-equiv", ""), "no CDN in the page head"
    assert (await client.get("/static/css/site.css")).status_code == 200
    assert (await client.get("/static/js/api.js")).status_code == 200


async def test_login_form_with_csrf_token_signs_in(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    user = await sign_in("buyer")
    page = await client.get("/login", headers={"accept": "text/html"})
    token = client.cookies["mp_csrf"]
    assert f'value="{token}"' in page.text
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "_csrf": token, "next": "/discover"}
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/discover"
    assert (await client.get("/api/me")).status_code == 200


async def test_login_form_without_csrf_token_is_refused(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    user = await sign_in("buyer")
    await client.get("/login")
    response = await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert (await client.get("/api/me")).status_code == 401


async def test_login_form_does_not_redirect_off_site(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    user = await sign_in("buyer")
    await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": TEST_PASSWORD,
            "_csrf": client.cookies["mp_csrf"],
            "next": "//evil.example",
        },
    )
    assert response.headers["location"] == "/"


async def test_register_form_shows_errors_and_keeps_what_was_typed(client: httpx.AsyncClient) -> None:
    await client.get("/register")
    response = await client.post(
        "/register",
        data={"_csrf": client.cookies["mp_csrf"], "email": "not-an-email", "password": "short",
              "display_name": "Kim", "organisation_name": "Kim Films", "organisation_kind": "studio", "role": "buyer"},
    )  # fmt: skip
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert 'value="Kim Films"' in response.text
