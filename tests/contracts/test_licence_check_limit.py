"""Anyone may check a licence, which costs a lookup and a signature check: checks are counted per address."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from tests.conftest import SignIn

CHECKS = 3


def from_address(app: Litestar, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


def random_address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


@pytest.fixture
async def few_checks(app: Litestar) -> AsyncIterator[None]:
    saved = dict(app.state.rate_limits)
    # An hour's window: a window's edge falling between a test's few checks is then all but impossible.
    app.state.rate_limits["licence_checks"] = (CHECKS, 3600)
    yield
    app.state.rate_limits.update(saved)


@pytest.mark.parametrize("path", ["/api/licences/{}/verify", "/licences/{}/verify"])
async def test_licence_checks_past_the_limit_from_one_address_are_refused_with_429(
    app: Litestar, few_checks: None, path: str
) -> None:
    address = random_address()
    async with from_address(app, address) as checker:
        answers = [await checker.get(path.format(uuid.uuid4())) for _ in range(CHECKS + 1)]
    assert [answer.status_code for answer in answers] == [404] * CHECKS + [429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 3600
    async with from_address(app, random_address()) as someone_else:
        assert (await someone_else.get(path.format(uuid.uuid4()))).status_code == 404


async def test_signing_in_does_not_buy_a_fresh_allowance_of_checks(
    app: Litestar, few_checks: None, sign_in: SignIn
) -> None:
    address = random_address()
    statuses = []
    for _ in range(CHECKS + 1):
        user = await sign_in("buyer")
        async with from_address(app, address) as checker:
            checker.headers["Authorization"] = f"Bearer {user.token}"
            statuses.append((await checker.get(f"/api/licences/{uuid.uuid4()}/verify")).status_code)
    assert statuses == [404] * CHECKS + [429]


async def test_the_api_document_states_the_limit_on_licence_checks(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    refusal = paths["/api/licences/{licence_id}/verify"]["get"]["responses"]["429"]
    assert refusal["description"].startswith("More than 60 requests in a minute from one address")
    assert "Retry-After" in refusal["headers"]
