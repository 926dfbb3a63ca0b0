"""Sessions under attack over HTTP: login CSRF, tokens bound to their session, rotation, sign-in limits."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar

from marketplace.addresses import parse_networks
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


def from_address(app: Litestar, address: str, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local", headers=headers)


def random_address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


# ------------------------------------------------------------------ login CSRF


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/auth/tokens"])
async def test_a_json_endpoint_refuses_a_body_sent_as_text_plain(
    client: httpx.AsyncClient, path: str
) -> None:
    """A page on another site can make a browser POST text/plain without asking; it cannot send JSON."""
    body = msgspec.json.encode(registration() | {"name": "t", "password": TEST_PASSWORD})
    response = await client.post(path, content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]
    assert "mp_session" not in client.cookies


async def test_a_json_write_refuses_a_form_body_even_from_a_script(sign_in: SignIn) -> None:
    script = await sign_in("rights_holder")
    response = await script.client.post(
        "/api/rights/tracks", data={"title": "Form Track", "artist": "Nobody"}
    )
    assert response.status_code == 415


async def test_a_cross_site_login_form_is_refused_without_the_visitors_own_pre_session(
    app: Litestar, sign_in: SignIn
) -> None:
    """Login CSRF: the attacker's own valid form token, posted from the victim's browser, signs nobody in."""
    attacker_account = await sign_in("buyer")
    async with from_address(app, random_address()) as attacker:
        await attacker.get("/login")
        attackers_token = attacker.cookies["mp_csrf"]
    async with from_address(app, random_address()) as victim:
        await victim.get("/login")  # the victim has a pre-session of its own
        forged = {"email": attacker_account.email, "password": TEST_PASSWORD, "_csrf": attackers_token}
        assert (await victim.post("/login", data=forged)).status_code == 403
        victim.cookies.delete("mp_presession")  # or none at all
        assert (await victim.post("/login", data=forged)).status_code == 403
        assert "mp_session" not in victim.cookies
        assert (await victim.get("/api/me")).status_code == 401


async def test_the_register_form_needs_the_token_of_the_visitors_pre_session(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/register")
    assert page.status_code == 200 and "mp_presession" in client.cookies
    token = client.cookies["mp_csrf"]
    assert f'value="{token}"' in page.text
    body = registration()
    assert (await client.post("/register", data=body)).status_code == 403
    created = await client.post("/register", data=body | {"_csrf": token})
    assert created.status_code == 302, created.text
    assert (await client.get("/api/me")).json()["user"]["email"] == body["email"]


async def test_a_csrf_token_from_one_session_fails_in_another(app: Litestar, sign_in: SignIn) -> None:
    """Even when the attacker also plants its token as the CSRF cookie (double-submit alone would pass)."""
    alice, mallory = await sign_in("buyer"), await sign_in("buyer")
    sessions = {}
    for who in (alice, mallory):
        async with from_address(app, random_address()) as browser:
            signed = await browser.post(
                "/api/auth/login", json={"email": who.email, "password": TEST_PASSWORD}
            )
            assert signed.status_code == 200
            sessions[who.email] = (browser.cookies["mp_session"], browser.cookies["mp_csrf"])
    alice_session, _ = sessions[alice.email]
    _, mallorys_token = sessions[mallory.email]
    async with from_address(app, random_address()) as victim:
        victim.cookies.set("mp_session", alice_session)
        victim.cookies.set("mp_csrf", mallorys_token)
        refused = await victim.post("/api/auth/logout", headers={"X-CSRF-Token": mallorys_token})
        assert refused.status_code == 403
        assert (await victim.get("/api/me")).status_code == 200, "Alice is still signed in"


async def test_the_session_id_rotates_at_sign_in_and_the_old_one_is_dead(
    app: Litestar, sign_in: SignIn
) -> None:
    user = await sign_in("buyer")
    async with from_address(app, random_address()) as browser:
        await browser.get("/login")
        presession = browser.cookies["mp_presession"]
        form_token = browser.cookies["mp_csrf"]
        signed = await browser.post(
            "/login", data={"email": user.email, "password": TEST_PASSWORD, "_csrf": form_token}
        )
        assert signed.status_code == 302
        first = browser.cookies["mp_session"]
        assert "mp_presession" not in browser.cookies, "the pre-session ends at sign-in"
        assert browser.cookies["mp_csrf"] != form_token, "a new token for the new session"
        again = await browser.post(
            "/api/auth/login",
            json={"email": user.email, "password": TEST_PASSWORD},
            headers={"X-CSRF-Token": browser.cookies["mp_csrf"]},
        )
        assert again.status_code == 200
        second = browser.cookies["mp_session"]
        assert second != first
        assert (await browser.get("/api/me")).status_code == 200
    async with from_address(app, random_address()) as stale:
        stale.cookies.set("mp_session", first)
        assert (await stale.get("/api/me")).status_code == 401, "the session before sign-in is over"
        stale.cookies.set("mp_presession", presession)
        reused = await stale.post(
            "/login", data={"email": user.email, "password": TEST_PASSWORD, "_csrf": form_token}
        )
        assert reused.status_code == 403, "the pre-session's token died with it"


# ------------------------------------------------------------------ sign-in limits


@pytest.fixture
async def strict_login_limits(app: Litestar) -> AsyncIterator[None]:
    saved = dict(app.state.rate_limits)
    # An hour's window: a fixed window's edge falling between a test's few attempts is then all but impossible.
    app.state.rate_limits["login"] = (3, 3600)
    app.state.rate_limits["login_failures"] = (5, 900)
    yield
    app.state.rate_limits.update(saved)


@pytest.fixture
async def behind_proxy(app: Litestar) -> AsyncIterator[str]:
    """The app as deployed behind a proxy at 192.0.2.10 (TRUSTED_PROXIES=192.0.2.0/24)."""
    saved = app.state.settings
    app.state.settings = msgspec.structs.replace(saved, trusted_proxies=parse_networks("192.0.2.0/24"))
    yield "192.0.2.10"
    app.state.settings = saved


async def test_sign_in_counts_per_address_whatever_session_cookie_comes_with_it(
    app: Litestar, sign_in: SignIn, strict_login_limits: None
) -> None:
    """Each guess carries a different valid session: the address is still limited."""
    sessions = []
    for _ in range(4):
        user = await sign_in("buyer")
        async with from_address(app, random_address()) as own:
            await own.post("/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
            sessions.append((own.cookies["mp_session"], own.cookies["mp_csrf"]))
    attacker_address = random_address()
    statuses = []
    for session, token in sessions:
        async with from_address(app, attacker_address, **{"X-CSRF-Token": token}) as attacker:
            attacker.cookies.set("mp_session", session)
            guess = {"email": f"victim-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
            statuses.append((await attacker.post("/api/auth/login", json=guess)).status_code)
    assert statuses == [401, 401, 401, 429]


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    app: Litestar, strict_login_limits: None
) -> None:
    address = random_address()
    statuses = []
    for hop in range(4):
        async with from_address(app, address, **{"X-Forwarded-For": f"198.51.100.{hop}"}) as attacker:
            guess = {"email": f"victim-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
            statuses.append((await attacker.post("/api/auth/login", json=guess)).status_code)
    assert statuses == [401, 401, 401, 429]


async def test_forwarded_for_sent_to_the_real_server_does_not_buy_fresh_guesses(
    live_server: str, strict_login_limits: None
) -> None:
    """Over uvicorn from 127.0.0.1, as an attacker on the same host or a misconfigured proxy would."""
    statuses = []
    async with httpx.AsyncClient(base_url=live_server) as attacker:
        for hop in range(7):  # at most 3 per one-minute window, and 7 attempts span at most two windows
            guess = {"email": f"victim-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
            forged = {"X-Forwarded-For": f"198.51.100.{hop}"}
            statuses.append((await attacker.post("/api/auth/login", json=guess, headers=forged)).status_code)
    assert 429 in statuses


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited_not_the_proxy(
    app: Litestar, strict_login_limits: None, behind_proxy: str
) -> None:
    client = f"203.0.113.{secrets.randbelow(250)}"
    statuses = []
    for hop in range(4):  # the attacker prepends a made-up address; the proxy appends the real one
        forwarded = f"198.51.100.{hop}, {client}"
        async with from_address(app, behind_proxy, **{"X-Forwarded-For": forwarded}) as attacker:
            guess = {"email": f"victim-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
            statuses.append((await attacker.post("/api/auth/login", json=guess)).status_code)
    assert statuses == [401, 401, 401, 429]
    async with from_address(app, behind_proxy, **{"X-Forwarded-For": f"{client}1"}) as someone_else:
        guess = {"email": f"other-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
        assert (await someone_else.post("/api/auth/login", json=guess)).status_code == 401


async def test_an_ipv6_client_cannot_buy_fresh_guesses_by_moving_within_its_64(
    app: Litestar, strict_login_limits: None
) -> None:
    site, subnet = secrets.randbelow(0xFFFF), secrets.randbelow(0xFFFE)
    prefix = f"2001:db8:{site:x}:{subnet:x}"
    statuses = []
    for interface in range(4):
        async with from_address(app, f"{prefix}::{interface + 1:x}") as attacker:
            guess = {"email": f"victim-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
            statuses.append((await attacker.post("/api/auth/login", json=guess)).status_code)
    assert statuses == [401, 401, 401, 429]
    async with from_address(app, f"2001:db8:{site:x}:{subnet + 1:x}::1") as next_subscriber:
        guess = {"email": f"other-{secrets.token_hex(3)}@example.test", "password": "guess guess guess"}
        assert (await next_subscriber.post("/api/auth/login", json=guess)).status_code == 401


async def test_an_account_refuses_sign_in_after_five_failures_from_any_addresses(
    app: Litestar, sign_in: SignIn, strict_login_limits: None
) -> None:
    victim = await sign_in("buyer")
    bystander = await sign_in("buyer")
    statuses = []
    for attempt in range(5):
        async with from_address(app, random_address()) as attacker:
            if attempt % 2:  # with or without a session cookie, a failure counts
                await attacker.post(
                    "/api/auth/login", json={"email": bystander.email, "password": TEST_PASSWORD}
                )
                attacker.headers["X-CSRF-Token"] = attacker.cookies["mp_csrf"]
            wrong = {"email": victim.email.upper(), "password": f"guess number {attempt}"}
            statuses.append((await attacker.post("/api/auth/login", json=wrong)).status_code)
    assert statuses == [401] * 5
    async with from_address(app, random_address()) as fresh:
        right = await fresh.post("/api/auth/login", json={"email": victim.email, "password": TEST_PASSWORD})
        assert right.status_code == 429, "even the right password waits until the window passes"
        assert int(right.headers["retry-after"]) > 60
        assert "too many failed sign-ins for this account" in right.json()["detail"]
        token = await fresh.post(
            "/api/auth/tokens", json={"name": "x", "email": victim.email, "password": TEST_PASSWORD}
        )
        assert token.status_code == 429, "the token endpoint counts for the same account"
        other = await fresh.post(
            "/api/auth/login", json={"email": bystander.email, "password": TEST_PASSWORD}
        )
        assert other.status_code == 200, "other accounts are not affected"


# ------------------------------------------------------------------ passwords


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("eleven char", "at least 12 characters"),
        ("123qweasdzxc", "commonly used"),
        ("Qwerty123456", "commonly used"),
    ],
)
async def test_registration_refuses_short_and_common_passwords(
    client: httpx.AsyncClient, password: str, reason: str
) -> None:
    response = await client.post("/api/auth/register", json=registration(password=password))
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert "password" in response.json()["detail"]


# ------------------------------------------------------------------ pre-sessions per address


@pytest.fixture
async def few_presessions(app: Litestar) -> AsyncIterator[int]:
    saved = dict(app.state.rate_limits)
    app.state.rate_limits["presessions"] = (3, 3600)
    yield 3
    app.state.rate_limits.update(saved)


async def test_one_address_opening_sign_in_forms_without_their_cookie_is_refused_with_429(
    app: Litestar, few_presessions: int
) -> None:
    """Each visit drops the cookie, so each would store a new pre-session in Redis: the address is capped."""
    address = random_address()
    statuses = []
    for _ in range(few_presessions + 1):
        async with from_address(app, address) as cookieless:
            statuses.append(await cookieless.get("/register"))
    assert [answer.status_code for answer in statuses] == [200] * few_presessions + [429]
    refused = statuses[-1]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "too many sign-in forms were opened from your address" in refused.json()["detail"]
    async with from_address(app, random_address()) as someone_else:
        assert (await someone_else.get("/login")).status_code == 200


async def test_a_browser_that_keeps_its_pre_session_cookie_is_not_counted_again(
    app: Litestar, few_presessions: int
) -> None:
    async with from_address(app, random_address()) as browser:
        statuses = [(await browser.get("/login")).status_code for _ in range(few_presessions * 2)]
    assert statuses == [200] * few_presessions * 2


async def test_the_refusal_reads_as_a_page_in_a_browser(app: Litestar, few_presessions: int) -> None:
    address = random_address()
    for _ in range(few_presessions):
        async with from_address(app, address) as cookieless:
            await cookieless.get("/login")
    async with from_address(app, address, Accept="text/html") as browser:
        refused = await browser.get("/login")
    assert refused.status_code == 429
    assert "text/html" in refused.headers["content-type"]
    assert "allow cookies, or try again in" in refused.text


# ------------------------------------------------------------------ __Host- cookies over HTTPS


def https_browser(app: Litestar) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(random_address(), 1))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver.local")


@contextlib.asynccontextmanager
async def signed_in_over_https(app: Litestar, sign_in: SignIn) -> AsyncIterator[httpx.AsyncClient]:
    user = await sign_in("buyer")
    async with https_browser(app) as browser:
        signed = await browser.post("/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
        assert signed.status_code == 200, signed.text
        yield browser


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


async def test_over_https_the_session_and_csrf_cookies_are_host_prefixed(
    app: Litestar, sign_in: SignIn, over_https: None
) -> None:
    user = await sign_in("buyer")
    async with https_browser(app) as browser:
        form = set_cookies(await browser.get("/login"))
        signed = await browser.post("/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
        assert signed.status_code == 200, signed.text
        assert (await browser.get("/api/me")).json()["user"]["email"] == user.email
    issued = form | set_cookies(signed)
    for name in ("__Host-mp_presession", "__Host-mp_csrf", "__Host-mp_session"):
        attributes = [part.strip().lower() for part in issued[name].split(";")]
        assert "secure" in attributes and "path=/" in attributes, issued[name]
        assert not any(part.startswith("domain=") for part in attributes), issued[name]
    assert not {"mp_presession", "mp_csrf", "mp_session"} & set(issued)


async def test_over_https_a_session_cookie_without_the_prefix_is_not_honoured(
    app: Litestar, sign_in: SignIn, over_https: None
) -> None:
    """A sibling subdomain can set a plain `mp_session` for the parent domain; it signs nobody in."""
    async with signed_in_over_https(app, sign_in) as own:
        session = own.cookies["__Host-mp_session"]
    async with https_browser(app) as planted:
        planted.cookies.set("mp_session", session)
        assert (await planted.get("/api/me")).status_code == 401


async def test_over_https_signing_out_removes_the_prefixed_session_cookie(
    app: Litestar, sign_in: SignIn, over_https: None
) -> None:
    async with signed_in_over_https(app, sign_in) as browser:
        token = browser.cookies["__Host-mp_csrf"]
        signed_out = await browser.post("/api/auth/logout", headers={"X-CSRF-Token": token})
        assert signed_out.status_code == 204
        removal = set_cookies(signed_out)["__Host-mp_session"].lower()
        assert "max-age=0" in removal and "secure" in removal
        assert (await browser.get("/api/me")).status_code == 401
