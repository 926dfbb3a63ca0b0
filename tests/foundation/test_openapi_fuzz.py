"""Schemathesis fuzzes every operation of the OpenAPI document against a real server process, signed
in as a rights holder and as a buyer: no 5xx, and every answer as the document describes it.

Bounded for CI (a few examples per operation, no per-example deadline on a shared machine); raise
FUZZ_EXAMPLES locally to search harder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketplace import anvil
from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind
from marketplace.app import create_app
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import StoreUrls
from rights.identity import Role
from tests.auction.live import process_env, start_server, stop
from tests.conftest import TEST_PASSWORD, free_port

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class FuzzedServer:
    def __init__(self, base_url: str, tokens: dict[Role, str]) -> None:
        self.base_url = base_url
        self.tokens = tokens


async def _tokens(database_url: str) -> dict[Role, str]:
    """A fresh organisation and API token for each role the fuzzing signs in as."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    tokens: dict[Role, str] = {}
    try:
        async with pool.acquire() as conn:
            for role, kind in (
                (Role.RIGHTS_HOLDER, OrganisationKind.LABEL),
                (Role.BUYER, OrganisationKind.AGENCY),
            ):
                suffix = secrets.token_hex(4)
                user = await accounts.create_user(
                    conn, organisation_name=f"Fuzz {role.value} {suffix}", organisation_kind=kind,
                    email=f"fuzz-{role.value}-{suffix}@example.test", display_name=f"Fuzz {suffix}",
                    role=role, password=TEST_PASSWORD,
                )  # fmt: skip
                principal = await accounts.authenticate(conn, user.email, TEST_PASSWORD)
                tokens[role] = (await accounts.issue_token(conn, principal, "fuzzing")).token
    finally:
        await pool.close()
    return tokens


@pytest.fixture(scope="session")
def fuzzed_server(test_env: dict[str, str], urls: StoreUrls) -> Iterator[FuzzedServer]:
    """A server process of its own: schemathesis calls it synchronously, which would block the
    test session's event loop and with it the in-process live_server."""
    port = PORT
    env = {**process_env(test_env, urls), "BIDS_PER_SECOND": "1000"}
    server = start_server(env, port)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                # Not /health, which also wants a worker: this server only has to answer requests.
                if httpx.get(f"{base_url}/schema/openapi.json", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError(f"the fuzzed server did not start (exit code {server.poll()})")
            time.sleep(0.1)
        # Its own loop in its own thread: the test session's loop belongs to the async fixtures.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            tokens = thread.submit(asyncio.run, _tokens(urls.database_url)).result()
        yield FuzzedServer(base_url, tokens)
    finally:
        stop(server)


def _openapi_document() -> dict[str, Any]:
    """The document the app serves, built without any store: the app factory never connects before
    its lifespan starts, so placeholder URLs do."""
    with tempfile.TemporaryDirectory(prefix="openapi-document-") as data_dir:
        # Every external service named, so that none is started (a Stripe stand-in, Anvil) just to
        # describe the API.
        offline = load_settings(
            {"DATABASE_URL": "postgresql://offline/none", "REDIS_URL": "redis://offline", "SECRET_KEY": "s" * 32,
             "STRIPE_API_KEY": "sk_test_offline", "STRIPE_WEBHOOK_SECRET": "whsec_offline",
             "STRIPE_API_BASE": "http://offline", "CHAIN_RPC_URL": "http://offline:8545",
             "MARKETPLACE_DATA_DIR": data_dir}
        )  # fmt: skip
        document: dict[str, Any] = msgspec.json.decode(
            msgspec.json.encode(create_app(offline).openapi_schema.to_schema())
        )  # as served: defaults such as dates become JSON
    return document


schema = schemathesis.openapi.from_dict(_openapi_document())
# Schemathesis 4.32's coverage phase crashes while collecting this schema (its JSON key encoder);
# the examples and fuzzing phases generate valid and invalid requests for every operation.
schema.config.phases.update(phases=["examples", "fuzzing"])
# /health answers 503 by design when no worker runs (none does here); it is tested on its own.
schema = schema.exclude(path="/health")
if anvil.anvil_binary() is None:
    # Without Anvil this server has no chain node: its chain operations answer 503 by design.
    schema = schema.exclude(path_regex="chain")
PORT = free_port()  # chosen now: the schema needs its base URL before the server starts
schema.config.update(base_url=f"http://127.0.0.1:{PORT}")
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_as_a_rights_holder_answers_every_request_as_documented(
    case: Any, fuzzed_server: FuzzedServer
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzzed_server.tokens[Role.RIGHTS_HOLDER]}"},
        checks=CHECKS,
    )


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_as_a_buyer_answers_every_request_as_documented(
    case: Any, fuzzed_server: FuzzedServer
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzzed_server.tokens[Role.BUYER]}"}, checks=CHECKS
    )
