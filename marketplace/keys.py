"""The platform's Ed25519 signing key: made on first start under the data dir, readable by its owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "platform-ed25519.pem"


def load_or_create_platform_key(data_dir: Path) -> Ed25519PrivateKey:
    """The key at `data_dir / "platform-ed25519.pem"`, created (mode 0600) if there is none yet.

    A new key is written to a private temporary file and linked into place, so a process starting at
    the same moment either wins the link or reads the finished key — never half of one.
    """
    path = data_dir / KEY_FILE
    if path.exists():
        return _load(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    draft = data_dir / f".{KEY_FILE}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.link(draft, path)
    except FileExistsError:
        return _load(path)
    finally:
        draft.unlink(missing_ok=True)
    return key


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key
