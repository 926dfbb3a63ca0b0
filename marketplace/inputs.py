"""Text no request may carry: a NUL character, which PostgreSQL cannot store in any text column.

Checked once, where a request arrives (query string, JSON, form and multipart fields), so no
endpoint can forget it; the answer names the field the NUL came in.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import msgspec

_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_PART_NAME = re.compile(rb'\bname="([^"]*)"')


def _nul_in_json(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where
            found = _nul_in_json(item, where)
            if found:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _nul_in_json(item, f"{path}[{n}]")
            if found:
                return found
    return None


def _nul_in_pairs(pairs: list[tuple[str, str]]) -> str | None:
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            return key
    return None


def nul_in_query(query_string: bytes) -> str | None:
    """The query parameter holding a NUL, if any."""
    if b"%00" not in query_string.lower() and b"\x00" not in query_string:
        return None
    return _nul_in_pairs(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def nul_in_body(body: bytes, content_type: str, boundary: str | None) -> str | None:
    """The field of a JSON, form or multipart body holding a NUL, if any (files may hold anything)."""
    if content_type == "application/x-www-form-urlencoded":
        if b"%00" not in body.lower() and b"\x00" not in body:
            return None
        return _nul_in_pairs(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if content_type == "multipart/form-data":
        return _nul_in_multipart(body, boundary) if b"\x00" in body and boundary else None
    if not _ESCAPED_NUL.search(body):
        return None
    try:
        return _nul_in_json(msgspec.json.decode(body), "")
    except msgspec.DecodeError:
        return None  # not JSON: the handler's own decoding will say so


def _nul_in_multipart(body: bytes, boundary: str) -> str | None:
    for part in body.split(b"--" + boundary.encode("latin-1")):
        head, _, value = part.partition(b"\r\n\r\n")
        disposition = head.lower()
        if b"filename=" in disposition or b"\x00" not in value.removesuffix(b"\r\n"):
            continue
        name = _PART_NAME.search(head)
        return name.group(1).decode("utf-8", "replace") if name else "a form field"
    return None


def boundary_of(content_type_header: str) -> str | None:
    for parameter in content_type_header.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip('"')
    return None
