"""Principals remembered per process: a lookup saved while remembered, and forgotten when the sign-in
ends (token revoked, signed out, role changed) — at once in the process that ended it, on the
announcement's arrival in every other; nothing remembered while the announcements cannot arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from redis.asyncio import Redis

from marketplace.accounts.sessions import credential_id, revocation_channel, user_changed_channel
from marketplace.config import Settings
from marketplace.principals import LISTENER_NAME, PrincipalCache, Via, listen_for_revocations
from rights.identity import Principal, Role
from tests.conftest import TEST_PASSWORD, SignIn, app_client, running

PROMPTLY = 2.0  # seconds: an announcement arrives in about a millisecond; the rest is a busy machine


def principal(user_id: UUID | None = None) -> Principal:
    return Principal(
        user_id=user_id or uuid4(), organisation_id=uuid4(), role=Role.BUYER, email="a@example.test",
        display_name="A",
    )  # fmt: skip


def live_cache(**bounds: Any) -> PrincipalCache:
    cache = PrincipalCache(**bounds)
    cache.go_live()
    return cache


# ---------------------------------------------------------------- the cache alone


def test_a_remembered_principal_is_found_until_it_expires() -> None:
    cache, someone = live_cache(ttl=30), principal()
    cache.remember(Via.TOKEN, "c", someone, now=100.0, ticket=cache.ticket())
    assert cache.lookup(Via.TOKEN, "c", now=129.9) == someone
    assert cache.lookup(Via.TOKEN, "c", now=130.0) is None


def test_a_token_entry_never_answers_for_a_session_with_the_same_id() -> None:
    cache = live_cache()
    cache.remember(Via.SESSION, "c", principal(), now=0.0, ticket=cache.ticket())
    assert cache.lookup(Via.TOKEN, "c", now=0.0) is None


def test_the_oldest_entries_go_when_the_cache_is_full() -> None:
    cache = live_cache(size=2)
    for credential in ("a", "b", "c"):
        cache.remember(Via.TOKEN, credential, principal(), now=0.0, ticket=cache.ticket())
    assert cache.lookup(Via.TOKEN, "a", now=0.0) is None
    assert cache.lookup(Via.TOKEN, "c", now=0.0) is not None
    assert len(cache) == 2


def test_a_lookup_that_raced_a_revocation_is_not_remembered() -> None:
    cache = live_cache()
    ticket = cache.ticket()  # the lookup starts, reading the store before the revocation commits
    cache.apply(revocation_channel("c"))
    cache.remember(Via.TOKEN, "c", principal(), now=0.0, ticket=ticket)
    assert cache.lookup(Via.TOKEN, "c", now=0.0) is None


def test_nothing_is_remembered_or_trusted_while_the_cache_is_dark() -> None:
    cache = live_cache()
    cache.remember(Via.TOKEN, "c", principal(), now=0.0, ticket=cache.ticket())
    cache.go_dark()
    assert cache.lookup(Via.TOKEN, "c", now=0.0) is None
    cache.remember(Via.TOKEN, "d", principal(), now=0.0, ticket=cache.ticket())
    assert len(cache) == 0
    cache.go_live()
    assert cache.lookup(Via.TOKEN, "c", now=0.0) is None, "what was remembered before the outage is gone"


def test_a_role_change_forgets_every_sign_in_of_that_user_only() -> None:
    cache, user, other = live_cache(), uuid4(), principal()
    for credential in ("token", "session"):
        cache.remember(Via.TOKEN, credential, principal(user), now=0.0, ticket=cache.ticket())
    cache.remember(Via.TOKEN, "other", other, now=0.0, ticket=cache.ticket())
    cache.apply(user_changed_channel(user))
    assert cache.lookup(Via.TOKEN, "token", now=0.0) is None
    assert cache.lookup(Via.TOKEN, "session", now=0.0) is None
    assert cache.lookup(Via.TOKEN, "other", now=0.0) == other


operations = st.lists(
    st.tuples(st.sampled_from(["remember", "revoke", "dark", "live"]), st.sampled_from(["a", "b", "c"])),
    max_size=40,
)


@given(operations)
def test_a_credential_revoked_or_remembered_through_an_outage_is_never_answered(
    steps: list[tuple[str, str]],
) -> None:
    """Whatever the order: a lookup answers only what was remembered while live and not revoked since."""
    cache, someone = PrincipalCache(), principal()
    valid: set[str] = set()
    for step, credential in steps:
        if step == "remember":
            cache.remember(Via.TOKEN, credential, someone, now=0.0, ticket=cache.ticket())
            if cache.live:
                valid.add(credential)
        elif step == "revoke":
            cache.apply(revocation_channel(credential))
            valid.discard(credential)
        elif step == "dark":
            cache.go_dark()
            valid.clear()
        else:
            cache.go_live()
            valid.clear()
        for name in ("a", "b", "c"):
            assert (cache.lookup(Via.TOKEN, name, now=0.0) is not None) == (name in valid)


# ---------------------------------------------------------------- the subscription, on a real Redis


async def until(condition: Callable[[], bool], what: str, within: float = PROMPTLY) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"waited {within} s for {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
async def listening(redis_url: str) -> AsyncIterator[Callable[..., Awaitable[PrincipalCache]]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(retry_seconds: float = 0.05, **timing: float) -> PrincipalCache:
        cache = PrincipalCache()
        listener = listen_for_revocations(redis_url, cache, retry_seconds=retry_seconds, **timing)
        tasks.append(asyncio.create_task(listener))
        await until(lambda: cache.live, "the subscription")
        return cache

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def kill_listeners(redis_url: str) -> None:
    """Cut every revocation subscription's connection from the Redis side, as a Redis restart would."""
    redis = Redis.from_url(redis_url)
    try:
        for client in await redis.client_list():
            if client.get("name") == LISTENER_NAME:
                await redis.client_kill_filter(_id=client["id"])
    finally:
        await redis.aclose()


async def test_an_announcement_forgets_the_credential_in_the_listening_process(
    listening: Callable[..., Awaitable[PrincipalCache]], redis_url: str
) -> None:
    cache = await listening()
    cache.remember(Via.TOKEN, "c", principal(), now=time.monotonic(), ticket=cache.ticket())
    redis = Redis.from_url(redis_url)
    try:
        await redis.publish(revocation_channel("c"), b"revoked")
    finally:
        await redis.aclose()
    await until(lambda: cache.lookup(Via.TOKEN, "c", time.monotonic()) is None, "the entry to go")


async def test_the_cache_is_off_while_its_subscription_is_down(
    listening: Callable[..., Awaitable[PrincipalCache]], redis_url: str
) -> None:
    cache = await listening(retry_seconds=3_600)  # once cut, it stays down for this test
    cache.remember(Via.TOKEN, "c", principal(), now=time.monotonic(), ticket=cache.ticket())
    await kill_listeners(redis_url)
    await until(lambda: not cache.live, "the cache to go dark")
    assert cache.lookup(Via.TOKEN, "c", time.monotonic()) is None
    cache.remember(Via.TOKEN, "d", principal(), now=time.monotonic(), ticket=cache.ticket())
    assert len(cache) == 0


async def test_a_subscription_redis_stops_answering_turns_the_cache_off_until_it_answers_again(
    listening: Callable[..., Awaitable[PrincipalCache]], redis_url: str
) -> None:
    """A connection can die without a word (a partition, a frozen Redis): an unanswered ping says so."""
    cache = await listening(ping_seconds=0.1, silent_after_seconds=0.5)
    cache.remember(Via.TOKEN, "c", principal(), now=time.monotonic(), ticket=cache.ticket())
    admin = Redis.from_url(redis_url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", 2_000, "ALL")  # every client waits, pings included
        await until(lambda: not cache.live, "the cache to go dark while Redis is silent")
        assert cache.lookup(Via.TOKEN, "c", time.monotonic()) is None
        await until(lambda: cache.live, "the subscription to come back after the pause", within=10)
    finally:
        await admin.aclose()


async def test_the_cache_comes_back_empty_when_the_subscription_does(
    listening: Callable[..., Awaitable[PrincipalCache]], redis_url: str
) -> None:
    cache = await listening()
    cache.remember(Via.TOKEN, "c", principal(), now=time.monotonic(), ticket=cache.ticket())
    before = cache.ticket()
    await kill_listeners(redis_url)
    await until(lambda: cache.live and cache.ticket() > before, "the subscription to come back")
    assert cache.lookup(Via.TOKEN, "c", time.monotonic()) is None


# ---------------------------------------------------------------- two server processes, over HTTP


class CountingPool:
    """The app's pool, counting the connections taken from it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.acquired = 0

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.acquired += 1
        return self.pool.acquire(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


@pytest.fixture
async def second_app(settings: Settings, app: Litestar) -> AsyncIterator[Litestar]:
    """Another server process on the same PostgreSQL and Redis, both listening for revocations."""
    async with running(settings) as other:
        await until(lambda: app.state.principals.live and other.state.principals.live, "both subscriptions")
        yield other


async def refused_within(client: httpx.AsyncClient, path: str, status: int, what: str) -> None:
    deadline = time.monotonic() + PROMPTLY
    while (response := await client.get(path)).status_code != status:
        assert time.monotonic() < deadline, f"{what}: still {response.status_code} after {PROMPTLY} s"


async def test_a_remembered_token_saves_the_database_lookup(sign_in: SignIn, second_app: Litestar) -> None:
    buyer = await sign_in("buyer")
    counting = CountingPool(second_app.state.pool)
    second_app.state.pool = counting
    try:
        async with app_client(second_app, buyer.token) as script:
            assert (await script.get("/api/me")).status_code == 200
            first = counting.acquired
            assert (await script.get("/api/me")).status_code == 200
            again = counting.acquired - first
    finally:
        second_app.state.pool = counting.pool
    assert first == 2, "the first request reads the token's user, then the handler takes its connection"
    assert again == 1, "the second request takes only the handler's connection"


async def test_a_revoked_token_is_refused_in_every_process(
    sign_in: SignIn, app: Litestar, second_app: Litestar, pg_pool: asyncpg.Pool
) -> None:
    buyer = await sign_in("buyer")
    spare = (await buyer.client.post("/api/auth/tokens", json={"name": "spare"})).json()["token"]
    token_id = await pg_pool.fetchval(
        "SELECT id FROM api_tokens WHERE user_id = $1 AND name = 'tests'", buyer.principal.user_id
    )
    async with app_client(second_app, buyer.token) as elsewhere, app_client(app, spare) as other_script:
        assert (await buyer.client.get("/api/me")).status_code == 200  # remembered in the first process
        assert (await elsewhere.get("/api/me")).status_code == 200  # and in the second
        assert app.state.principals.lookup(Via.TOKEN, credential_id(buyer.token), time.monotonic())
        revoked = await other_script.delete(f"/api/auth/tokens/{token_id}")
        assert revoked.status_code == 204
        assert (await buyer.client.get("/api/me")).status_code == 401, (
            "the very next request in the same process"
        )
        await refused_within(elsewhere, "/api/me", 401, "the other process")


async def test_a_signed_out_session_is_refused_in_every_process(
    sign_in: SignIn, app: Litestar, second_app: Litestar
) -> None:
    buyer = await sign_in("buyer")
    async with app_client(app) as browser, app_client(second_app) as elsewhere:
        login = await browser.post("/api/auth/login", json={"email": buyer.email, "password": TEST_PASSWORD})
        assert login.status_code == 200
        elsewhere.cookies.set("mp_session", browser.cookies["mp_session"])
        assert (await browser.get("/api/me")).status_code == 200
        assert (await elsewhere.get("/api/me")).status_code == 200
        session = browser.cookies["mp_session"]
        assert app.state.principals.lookup(Via.SESSION, credential_id(session), time.monotonic()) is not None
        logout = await browser.post("/api/auth/logout", headers={"X-CSRF-Token": browser.cookies["mp_csrf"]})
        assert logout.status_code == 204
        browser.cookies.set("mp_session", session)  # a copy of the cookie kept from before the sign-out
        assert (await browser.get("/api/me")).status_code == 401, "the very next request in the same process"
        await refused_within(elsewhere, "/api/me", 401, "the other process")


async def test_a_changed_role_applies_to_remembered_tokens_in_every_process(
    sign_in: SignIn, app: Litestar, second_app: Litestar
) -> None:
    label = f"Label {uuid4().hex[:8]}"
    admin = await sign_in("rights_holder", organisation=label)
    member = await sign_in("rights_holder", organisation=label)
    holdings = "/api/rights/catalogue/recordings"
    async with app_client(second_app, member.token) as elsewhere:
        assert (await member.client.get(holdings)).status_code == 200
        assert (await elsewhere.get(holdings)).status_code == 200
        demoted = await admin.client.put(
            f"/api/organisation/members/{member.principal.user_id}", json={"role": "buyer"}
        )
        assert demoted.status_code == 200, demoted.text
        assert (await member.client.get(holdings)).status_code == 403, (
            "the very next request in the same process"
        )
        await refused_within(elsewhere, holdings, 403, "the other process")
