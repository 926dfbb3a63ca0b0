"""Every error as RFC 9457 problem details on the API and as a friendly page in the browser."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap, Send

log = logging.getLogger("marketplace.errors")

TITLES = {
    400: "Bad request", 401: "Sign in required", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
    408: "Too slow", 409: "Conflict", 413: "Too large", 415: "Unsupported media type", 422: "Unprocessable", 429: "Too many requests",
    500: "Something went wrong", 503: "Service unavailable",
}  # fmt: skip


class Problem(msgspec.Struct, omit_defaults=True):
    title: str
    status: int
    detail: str
    type: str = "about:blank"
    instance: str | None = None
    errors: list[Any] | None = None


def _status_of(exc: Exception) -> int:
    """Domain errors say their status by type (or a `status_code` attribute) and never import Litestar."""
    explicit = getattr(exc, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    if isinstance(exc, PermissionError):
        return 403
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, ValueError):
        return 400
    return HTTP_500_INTERNAL_SERVER_ERROR


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith(("/api/", "/ws/", "/health", "/schema")):
        return False
    return "text/html" in request.headers.get("accept", "")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status = _status_of(exc)
    headers: dict[str, str] = {}
    errors: list[Any] | None = None
    if isinstance(exc, HTTPException):
        detail = exc.detail
        headers = dict(exc.headers or {})
        if isinstance(exc.extra, list) and exc.extra:
            errors = exc.extra
        elif isinstance(exc.extra, dict) and exc.extra:
            errors = [exc.extra]
    elif status == HTTP_500_INTERNAL_SERVER_ERROR:
        reference = uuid.uuid4().hex[:12]
        log.exception("unhandled error", extra={"reference": reference, "path": request.url.path})
        detail = (
            f"an unexpected error happened on our side (reference {reference}); nothing you sent was lost"
        )
    else:
        detail = str(exc) or TITLES.get(status, "Error")
    title = TITLES.get(status, "Error")
    if _wants_html(request):
        return Template(
            template_name="error.html",
            context={"status": status, "title": title, "detail": detail},
            status_code=status,
            headers=headers,
        )
    problem = Problem(title=title, status=status, detail=detail, instance=request.url.path, errors=errors)
    return Response(
        content=msgspec.json.encode(problem),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


async def send_problem(send: Send, status: int, detail: str, *, close: bool = False) -> None:
    """Problem details straight from an ASGI middleware, before any handler (and its exception
    handling) runs; `close` ends the connection when the client's body was left unread."""
    body = msgspec.json.encode(Problem(title=TITLES.get(status, "Error"), status=status, detail=detail))
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    start: Any = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    end: Any = {"type": "http.response.body", "body": body}
    await send(end)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {Exception: handle_exception}
