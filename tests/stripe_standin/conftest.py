"""The stand-in served in-process by uvicorn on a loopback port, and a webhook receiver to deliver to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import stripe
import uvicorn

from marketplace.stripe_standin.server import StandinApp
from marketplace.stripe_standin.state import StandinState
from tests.conftest import free_port

API_KEY = "sk_test_standin_tests"
WEBHOOK_SECRET = "whsec_standin_tests"


class Served(msgspec.Struct):
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def serve(app: Any) -> Served:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return Served(url=f"http://127.0.0.1:{port}", server=server, task=task)


def stripe_client(api_base: str, api_key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": api_base}, http_client=stripe.HTTPXClient())


StartStandin = Callable[[Path], Awaitable[Served]]


@pytest.fixture
async def start_standin() -> AsyncIterator[StartStandin]:
    served: list[Served] = []

    async def start(state_file: Path) -> Served:
        app = StandinApp(StandinState(state_file), api_key=API_KEY, webhook_secret=WEBHOOK_SECRET,
                         retry_base_seconds=0.05)  # fmt: skip
        running = await serve(app)
        served.append(running)
        return running

    yield start
    for running in served:
        if not running.task.done():
            await running.stop()


@pytest.fixture
async def standin(start_standin: StartStandin, tmp_path: Path) -> stripe.StripeClient:
    running = await start_standin(tmp_path / "state.sqlite3")
    return stripe_client(running.url)


class Receiver:
    """A webhook endpoint that refuses the first `failures` deliveries, then keeps what it is sent."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0
        self.received: list[tuple[bytes, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (message := await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.attempts += 1
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        status = 500 if self.attempts <= self.failures else 200
        if status == 200:
            self.received.append((body, headers.get("stripe-signature", "")))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
