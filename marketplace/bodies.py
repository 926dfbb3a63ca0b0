"""Request bodies are read whole, bounded and against a clock before any handler runs.

Audio (`opt={"body": "upload"}` for tracks, `"snippet"` for clips to identify or search by) is
spooled to a temporary file as it arrives instead of being held in memory, then handed on from
there: a 700 MB master costs a file on disk, not 700 MB of RAM.

So no handler can hold a database connection while a client trickles its body in, and no body is
decoded before its size and (for JSON) its nesting depth are known to be reasonable, nor any text
stored that holds a NUL (marketplace.inputs). A handler
names the kind of body it takes with `opt={"body": "upload"}` or `opt={"body": "import"}`; every
other handler takes a JSON or form body of at most `JSON_LIMIT_BYTES`.

Who may send a body is known from the headers alone, so marketplace.security, which runs first,
refuses a request its handler would refuse for want of a sign-in, the role or a CSRF token before a
byte of its body is read or spooled (`refuse_before_body`): nobody can make the server hold an upload
it would refuse.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import multipart  # type: ignore[import-untyped]  # the streaming parser Litestar itself uses
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
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
        "snippet": settings.snippet_limit_bytes,
    }
    return limits[kind]


SPOOLED_KINDS = frozenset({"upload", "snippet"})
SPOOL_CHUNK_BYTES = 1 << 20


def spool_dir(settings: Settings) -> Path:
    """Where audio bodies are spooled: on the data dir's disk (a tmpfs /tmp would keep them in memory)."""
    return settings.data_dir / "spool"


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size / 1024:g} KiB"


def _too_large(limit: int, kind: str, size: int | None = None) -> BodyRefused:
    if kind not in SPOOLED_KINDS:
        return BodyRefused(413, f"the request body is larger than {_megabytes(limit)}")
    if size is None:  # still arriving: what is known for certain is that it passed the limit
        return BodyRefused(413, f"the upload is larger than the limit of {limit:,} bytes")
    return BodyRefused(413, f"the upload is {size:,} bytes; the limit is {limit:,} bytes")


async def _chunks(receive: Receive, limit: int, kind: str, settings: Settings) -> Any:
    """The body's chunks as they arrive, each within the read timeout and all within the body's; a
    None at the end means the client went away."""
    size = 0
    total = settings.upload_timeout_seconds if kind in SPOOLED_KINDS else settings.body_timeout_seconds
    deadline = time.monotonic() + total
    while True:
        wait = min(settings.body_read_timeout_seconds, deadline - time.monotonic())
        try:
            async with asyncio.timeout(max(wait, 0)):
                message = await receive()
        except TimeoutError:
            raise BodyRefused(408, "the request body arrived too slowly: send it again in one go") from None
        if message["type"] == "http.disconnect":
            yield None
            return
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, kind)
        yield chunk
        if not message.get("more_body", False):
            return


async def read_body(receive: Receive, limit: int, settings: Settings) -> tuple[bytes, bool]:
    """The whole body, or BodyRefused; the flag says whether the client went away instead."""
    chunks: list[bytes] = []
    async for chunk in _chunks(receive, limit, "json", settings):
        if chunk is None:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


class _TextFieldWatch:
    """Follows a multipart body as it streams past and remembers the first text field holding a NUL."""

    def __init__(self, boundary: str | None) -> None:
        self.parser = multipart.PushMultipartParser(boundary.encode("latin-1")) if boundary else None
        self.segment: Any = None
        self.field_with_nul: str | None = None

    def feed(self, chunk: bytes) -> None:
        if self.parser is None or self.field_with_nul is not None:
            return
        try:
            for part in self.parser.parse(chunk):
                if isinstance(part, multipart.MultipartSegment):
                    self.segment = part
                elif part and self.segment is not None and not self.segment.filename and b"\x00" in part:
                    self.field_with_nul = self.segment.name
        except multipart.ParserError:
            self.parser = None  # not ours to judge: Litestar's own parser will refuse it


async def spool_body(
    receive: Receive, limit: int, kind: str, settings: Settings, boundary: str | None
) -> tuple[IO[bytes] | None, bool]:
    """The body written to an anonymous temporary file (removed when closed), or BodyRefused."""
    spool = tempfile.TemporaryFile(dir=spool_dir(settings))  # noqa: SIM115  # the caller closes it
    watch = _TextFieldWatch(boundary)
    pending = bytearray()
    try:
        async for chunk in _chunks(receive, limit, kind, settings):
            if chunk is None:
                spool.close()
                return None, True
            watch.feed(chunk)
            pending += chunk
            if len(pending) >= SPOOL_CHUNK_BYTES:
                await asyncio.to_thread(spool.write, bytes(pending))
                pending.clear()
        await asyncio.to_thread(spool.write, bytes(pending))
        _refuse_nul(watch.field_with_nul, "the field")
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, False


def _check_json(body: bytes, content_type: str) -> None:
    if not body or content_type in NOT_JSON_TYPES:
        return
    if json_depth(body) > MAX_JSON_DEPTH:
        raise BodyRefused(400, f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")


def _refuse_nul(field: str | None, where: str) -> None:
    if field is not None:
        raise BodyRefused(400, f"{where} `{field}` must not contain a NUL character")


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, once, then the client's own events."""
    delivered = False

    async def replay() -> Any:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _replay_file(spool: IO[bytes], receive: Receive) -> Receive:
    """A receive that hands the app the spooled body a chunk at a time, then the client's own events."""
    done = False

    async def replay() -> Any:
        nonlocal done
        if done:
            return await receive()
        chunk = await asyncio.to_thread(spool.read, SPOOL_CHUNK_BYTES)
        done = len(chunk) < SPOOL_CHUNK_BYTES
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay


def _needs_caller(handler: BaseRouteHandler) -> bool:
    return isinstance(handler, HTTPRouteHandler) and "caller" in handler.parsed_fn_signature.parameters


def _declares_body(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-length", b"0").strip() not in (b"", b"0") or b"transfer-encoding" in headers


RoleGuard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def refuse_before_body(scope: Scope, role_guard: RoleGuard) -> None:
    """A request with a body that its handler would refuse for who is calling (in the scope) is refused
    before the body is read: 401 where a sign-in is needed and nobody is signed in, 403 for the wrong
    role (`role_guard`, the app's own); the body left unread, the connection is closed."""
    if not _declares_body(dict(scope["headers"])):
        return
    handler: BaseRouteHandler = scope["route_handler"]
    close = {"Connection": "close"}
    try:
        role_guard(ASGIConnection(scope), handler)
    except (NotAuthorizedException, PermissionDeniedException) as refusal:
        raise type(refusal)(detail=refusal.detail, headers=close) from None
    if scope.get("user") is None and _needs_caller(handler):
        raise NotAuthorizedException(detail="sign in first", headers=close)


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
        spool: IO[bytes] | None = None
        body = b""
        try:
            _refuse_nul(nul_in_query(scope.get("query_string", b"")), "the query parameter")
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _too_large(limit, kind, int(declared))
            if kind in SPOOLED_KINDS:
                spool, gone = await spool_body(
                    receive, limit, kind, settings, boundary_of(content_type_header)
                )
            else:
                body, gone = await read_body(receive, limit, settings)
            if kind == "json":
                _check_json(body, content_type)
            if kind not in SPOOLED_KINDS | {"import"}:
                _refuse_nul(nul_in_body(body, content_type, boundary_of(content_type_header)), "the field")
        except BodyRefused as refusal:
            await send_problem(send, refusal.status, refusal.detail, close=refusal.status in (408, 413))
            return
        if gone:
            return
        if spool is not None:
            with spool:
                await app(scope, _replay_file(spool, receive), send)
            return
        await app(scope, replay_body(body, receive), send)

    return middleware
