"""The platform key: made once in the data dir, private to its owner, the same on every start."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.certificate import key_id
from marketplace.keys import KEY_FILE, load_or_create_platform_key


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_the_key_is_created_on_first_start_readable_by_its_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    load_or_create_platform_key(data_dir)
    path = data_dir / KEY_FILE
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE]  # no partial file left behind


def test_later_starts_load_the_same_key(tmp_path: Path) -> None:
    first = load_or_create_platform_key(tmp_path)
    again = load_or_create_platform_key(tmp_path)
    assert _public(first) == _public(again) and key_id(first) == key_id(again)
    assert key_id(load_or_create_platform_key(tmp_path / "other")) != key_id(first)
