"""The OpenAPI document states how every operation refuses: RFC 9457 problem details, one schema.

Litestar documents its own error shape (`status_code`, `detail`, as application/json); the app
answers with marketplace.errors.Problem as application/problem+json instead, so the document is
corrected here, once, for every operation.
"""

from __future__ import annotations

from collections.abc import Iterator

from litestar import Litestar
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute

PROBLEM_MEDIA_TYPE = "application/problem+json"
REFUSALS = {
    400: "A value is missing or wrong; `detail` says which and why, `errors` lists each field.",
    401: "Sign in first, or the API token is unknown or revoked.",
    403: "Signed in, but not allowed: the wrong role, another organisation's resource, or no CSRF token.",
    404: "No such resource.",
    408: "The request body arrived too slowly.",
    409: "The request conflicts with the resource's state (a closed round, a repeated bid).",
    413: "The request body is larger than this operation accepts.",
    415: "The request body is not of a media type this operation accepts.",
    429: "Too many requests; `Retry-After` says when to try again.",
    503: "The service is busy or a store is down; `Retry-After` says when to try again.",
}
PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    required=["title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="always about:blank"),
        "title": Schema(type=OpenAPIType.STRING, description="the status in words"),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, description="what went wrong, as a sentence"),
        "instance": Schema(type=OpenAPIType.STRING, description="the path that was requested"),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(), description="one entry per wrong field"),
    },
    description="RFC 9457 problem details",
)
RETRY_AFTER = OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description="seconds to wait")


def document_refusals(openapi: OpenAPI) -> None:
    """Every operation may answer each refusal, always as problem details."""
    openapi.components = openapi.components or Components()
    openapi.components.schemas["Problem"] = PROBLEM
    problem = {PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    for path_item in (openapi.paths or {}).values():
        for operation in (path_item.get, path_item.put, path_item.post, path_item.delete, path_item.patch):
            if operation is None:
                continue
            responses = operation.responses = operation.responses or {}
            if "204" in responses:  # Litestar gives `None` answers a JSON body; a 204 has none
                responses["204"] = OpenAPIResponse(description="No content")
            for status, description in REFUSALS.items():
                responses[str(status)] = OpenAPIResponse(
                    description=description,
                    content=problem,
                    headers={"Retry-After": RETRY_AFTER} if status in (429, 503) else None,
                )


def _operations(app: Litestar) -> Iterator[tuple[BaseRouteHandler, Operation]]:
    """Each documented operation with the handler that serves it."""
    openapi = app.openapi_schema
    for route in app.routes:
        # The document names a path's parameters without their types: `{id}`, not `{id:uuid}`.
        if (
            not isinstance(route, HTTPRoute)
            or openapi.paths is None
            or route.path_format not in openapi.paths
        ):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(openapi.paths[route.path_format], method.lower(), None)
                if operation is not None:
                    yield handler, operation


def document_file_bodies(app: Litestar) -> None:
    """Handlers that read a file body themselves say its media type in `opt["body_media_type"]`; the
    document then offers that body (so the API docs page can send a file)."""
    for handler, operation in _operations(app):
        media_type = handler.opt.get("body_media_type")
        if media_type:
            operation.request_body = RequestBody(
                content={media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
                description=handler.opt.get("body_description"),
                required=True,
            )


def document_rate_limits(app: Litestar, per_address: frozenset[str]) -> None:
    """A rate-limited operation's 429 says its limit (`opt["rate_limit"]`, from `app.state.rate_limits`)
    and whom it counts: each address (`per_address` buckets, and anyone not signed in) or each user."""
    for handler, operation in _operations(app):
        bucket = handler.opt.get("rate_limit")
        refusal = (operation.responses or {}).get("429")
        if bucket is None or not isinstance(refusal, OpenAPIResponse):
            continue
        limit, window = app.state.rate_limits[bucket]
        per = "address" if bucket in per_address else "user (address when not signed in)"
        refusal.description = (
            f"More than {limit} requests in {_window(window)} from one {per}; "
            "`Retry-After` says when to try again."
        )


def _window(seconds: int) -> str:
    named = {1: "a second", 60: "a minute", 3600: "an hour"}
    return named.get(seconds, f"{seconds} seconds")
