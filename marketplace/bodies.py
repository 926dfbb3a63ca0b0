"""Request bodies are read whole, bounded and against a clock before any handler runs.

So no handler can hold a database connection while a client trickles its body in, and no body is
decoded before its size and (for JSON) its nesting depth are known to be reasonable, nor any text
stored that holds a NUL (marketplace.inputs). A handler
names the kind of body it takes with `opt={"body": "upload"}` or `opt={"body": "import"}`; every
other handler takes a JSON or form body of at most `JSON_LIMIT_BYTES`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from marketplace.config import Settings
from marketplace.errors import send_problem
from marketplace.inputs import boundary_of, nul_in_body, nul_in_query

MAX_JSON_DEPTH = 32
NOT_JSON_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class BodyRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def body_limit(settings: Settings, kind: str) -> int:
    limits = {
        "json": settings.json_limit_bytes,
        "import": settings.import_limit_bytes,
        "upload": settings.upload_limit_bytes,
    }
    return limits[kind]


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size / 1024:g} KiB"


async def read_body(receive: Receive, limit: int, settings: Settings) -> tuple[bytes, bool]:
    """The whole body, or BodyRefused; the flag says whether the client went away instead."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + settings.body_timeout_seconds
    while True:
        wait = min(settings.body_read_timeout_seconds, deadline - time.monotonic())
        try:
            async with asyncio.timeout(max(wait, 0)):
                message = await receive()
        except TimeoutError:
            raise BodyRefused(408, "the request body arrived too slowly: send it again in one go") from None
        if message["type"] == "http.disconnect":
            return b"", True
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise BodyRefused(413, f"the request body is larger than {_megabytes(limit)}")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _check_json(body: bytes, content_type: str) -> None:
    if not body or content_type in NOT_JSON_TYPES:
        return
    if json_depth(body) > MAX_JSON_DEPTH:
        raise BodyRefused(400, f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")


def _refuse_nul(field: str | None, where: str) -> None:
    if field is not None:
        raise BodyRefused(400, f"{where} `{field}` must not contain a NUL character")


def body_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        kind = scope["route_handler"].opt.get("body", "json")
        limit = body_limit(settings, kind)
        headers = dict(scope["headers"])
        content_type_header = headers.get(b"content-type", b"").decode("latin-1")
        content_type = content_type_header.split(";")[0].strip().lower()
        try:
            _refuse_nul(nul_in_query(scope.get("query_string", b"")), "the query parameter")
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyRefused(413, f"the request body is larger than {_megabytes(limit)}")
            body, gone = await read_body(receive, limit, settings)
            if kind == "json":
                _check_json(body, content_type)
            if kind != "import":
                _refuse_nul(nul_in_body(body, content_type, boundary_of(content_type_header)), "the field")
        except BodyRefused as refusal:
            await send_problem(send, refusal.status, refusal.detail, close=refusal.status in (408, 413))
            return
        if gone:
            return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return middleware
