"""The platform's Ed25519 signing key: made on first start in the data dir, like the secret key."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PLATFORM_KEY_FILE = "platform-ed25519.pem"


def load_or_create_platform_key(data_dir: Path) -> Ed25519PrivateKey:
    """The key in `data_dir/platform-ed25519.pem`, written (mode 0600) if there is none yet.

    Several processes may start on one data dir at once: the first to create the file wins and
    the others read what it wrote.
    """
    path = data_dir / PLATFORM_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        partial = path.with_suffix(f".{os.getpid()}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(partial, path)  # fails if another process linked its key first
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key
