"""The signed licence certificate: a compact JWS (Ed25519, RFC 9864) over canonical JSON, and its JWKS.

Anyone can check a certificate with nothing but the published key set: the payload is the
canonical JSON of `Certificate`, whose `terms` hash to `terms_sha256`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from contracts.model import LicenceTerms
from contracts.terms_document import canonical_json, sha256_hex

ALGORITHM = "Ed25519"  # the fully specified name (RFC 9864) for EdDSA over Ed25519
ISSUER = "cue"


class Certificate(msgspec.Struct, frozen=True, kw_only=True):
    """What the platform attests: these terms, this audio file, these allow-listed channels."""

    issuer: str
    licence_id: UUID
    version: int
    issued_at: datetime
    terms: LicenceTerms
    terms_sha256: str
    audio_sha256: str | None
    allow_list: tuple[str, ...]


class CertificateInvalid(ValueError):
    """A certificate whose signature, key or content does not check out; the message says which."""


def key_id(key: Ed25519PrivateKey) -> str:
    """The RFC 7638 thumbprint of the public key: stable across restarts, different for a new key."""
    return str(OKPKey.import_key(key.public_key()).thumbprint())


def key_set(key: Ed25519PrivateKey) -> dict[str, Any]:
    """The JWKS document published at /.well-known/jwks.json (the public half only)."""
    public = OKPKey.import_key(key.public_key()).as_dict(private=False)
    return {"keys": [{**public, "kid": key_id(key), "alg": ALGORITHM, "use": "sig"}]}


def sign(certificate: Certificate, key: Ed25519PrivateKey) -> str:
    header = {"alg": ALGORITHM, "kid": key_id(key), "typ": "licence+jws"}
    token: str = jws.serialize_compact(
        header, canonical_json(certificate), OKPKey.import_key(key), algorithms=[ALGORITHM]
    )
    return token


def verify(token: str, jwks: dict[str, Any]) -> Certificate:
    """The certificate a compact JWS carries, after checking its signature against `jwks`."""
    try:
        keys = KeySet.import_key_set(cast(Any, jwks))
        found = jws.deserialize_compact(token, keys, algorithms=[ALGORITHM])
    except (JoseError, ValueError) as error:
        raise CertificateInvalid(f"the signature does not verify: {error}") from None
    try:
        certificate = msgspec.json.decode(found.payload, type=Certificate)
    except msgspec.ValidationError as error:
        raise CertificateInvalid(f"the signed content is not a licence certificate: {error}") from None
    if sha256_hex(canonical_json(certificate.terms)) != certificate.terms_sha256:
        raise CertificateInvalid("the terms do not hash to the terms_sha256 the certificate states")
    return certificate
