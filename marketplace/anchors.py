"""Anchors of the audit chain's global head kept where the database's owner cannot rewrite them.

An anchor is the newest checkpoint's sequence number, hash and time. A sink
publishes anchors and reads back the ones it can vouch for; `SignedFileSink` appends them, signed with
the platform key, to a log in the data dir. Another sink (the settlement contract's `anchor(head_hash,
seq)`) plugs in beside it by implementing `AnchorSink`.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ANCHORS_FILE = "audit-anchors.jsonl"


class Anchor(msgspec.Struct, frozen=True, kw_only=True):
    """The global head: checkpoint `seq` with `hash` (hex), taken at `taken_at` by the database's clock."""

    seq: int
    hash: str
    taken_at: datetime


class SignedAnchor(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    hash: str
    taken_at: datetime
    signature: str  # base64 Ed25519 over the JSON of the Anchor


class AnchorUnreadable(Exception):
    """A sink holds an entry it cannot vouch for (a bad signature or a garbled line)."""


class AnchorSink(Protocol):
    name: str

    async def publish(self, anchor: Anchor) -> None: ...

    async def newest(self) -> Anchor | None: ...

    async def anchors(self) -> list[Anchor]:
        """Every anchor, oldest first; raises AnchorUnreadable on an entry that does not verify."""
        ...


def _signed_bytes(anchor: Anchor) -> bytes:
    return msgspec.json.encode(anchor)


class SignedFileSink:
    """One JSON line per anchor, appended under an exclusive lock, each with its own signature."""

    name = "signed anchors file"

    def __init__(self, path: Path, key: Ed25519PrivateKey) -> None:
        self.path = path
        self.key = key

    async def publish(self, anchor: Anchor) -> None:
        signature = base64.b64encode(self.key.sign(_signed_bytes(anchor))).decode()
        line = msgspec.json.encode(
            SignedAnchor(seq=anchor.seq, hash=anchor.hash, taken_at=anchor.taken_at, signature=signature)
        )
        await asyncio.to_thread(self._append, line + b"\n")

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def newest(self) -> Anchor | None:
        return await asyncio.to_thread(self._newest)

    def _newest(self) -> Anchor | None:
        """Read only the file's tail: the log grows with every checkpoint."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 4096))
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return None
        return self._verified(lines[-1], "the last line") if lines else None

    async def anchors(self) -> list[Anchor]:
        return await asyncio.to_thread(self._anchors)

    def _anchors(self) -> list[Anchor]:
        try:
            with open(self.path, "rb") as handle:
                return [self._verified(line, f"line {number}") for number, line in enumerate(handle, start=1)]
        except FileNotFoundError:
            return []

    def _verified(self, line: bytes, where: str) -> Anchor:
        try:
            signed = msgspec.json.decode(line, type=SignedAnchor)
            anchor = Anchor(seq=signed.seq, hash=signed.hash, taken_at=signed.taken_at)
            self.key.public_key().verify(base64.b64decode(signed.signature), _signed_bytes(anchor))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            raise AnchorUnreadable(f"{self.path}, {where}, is not an anchor: {exc}") from None
        except InvalidSignature:
            raise AnchorUnreadable(f"{self.path}, {where}, is not signed by the platform key") from None
        return anchor
