"""The licence certificate: a JWS that verifies against the published key set and nothing else."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.certificate import Certificate, CertificateInvalid, key_id, key_set, sign, verify
from contracts.terms_document import canonical_json, sha256_hex
from tests.contracts.factories import PAID_AT, paid_deal, terms_of

KEY = Ed25519PrivateKey.generate()


def _certificate() -> Certificate:
    terms = terms_of(paid_deal())
    return Certificate(
        issuer="cue", licence_id=terms.licence_id, version=1, issued_at=PAID_AT, terms=terms,
        terms_sha256=sha256_hex(canonical_json(terms)), audio_sha256="ab" * 32,
        allow_list=("https://www.youtube.com/@brightside",),
    )  # fmt: skip


def _segments(token: str) -> list[str]:
    return token.split(".")


def _decoded(segment: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return result


def test_a_signed_certificate_verifies_against_the_published_key_set() -> None:
    certificate = _certificate()
    assert verify(sign(certificate, KEY), key_set(KEY)) == certificate


def test_the_header_names_the_algorithm_and_the_key() -> None:
    header = _decoded(_segments(sign(_certificate(), KEY))[0])
    assert header["alg"] == "Ed25519" and header["kid"] == key_id(KEY)
    assert key_set(KEY)["keys"][0]["kid"] == key_id(KEY)
    assert "d" not in key_set(KEY)["keys"][0]  # the private part is never published


def test_the_payload_is_the_canonical_json_of_the_certificate() -> None:
    certificate = _certificate()
    payload = _segments(sign(certificate, KEY))[1]
    assert base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) == canonical_json(certificate)


def test_a_tampered_payload_is_refused() -> None:
    header, payload, signature = _segments(sign(_certificate(), KEY))
    document = _decoded(payload)
    document["terms"]["agreed"]["fee"]["amount"] = 1  # type: ignore[index]
    forged = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    with pytest.raises(CertificateInvalid, match="signature"):
        verify(f"{header}.{forged}.{signature}", key_set(KEY))


def test_a_certificate_signed_by_another_key_is_refused() -> None:
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(CertificateInvalid):
        verify(sign(_certificate(), impostor), key_set(KEY))


def test_terms_that_do_not_match_their_stated_hash_are_refused_even_when_signed() -> None:
    certificate = _certificate()
    lying = Certificate(**{**{f: getattr(certificate, f) for f in certificate.__struct_fields__},
                           "terms_sha256": sha256_hex(b"other terms")})  # fmt: skip
    with pytest.raises(CertificateInvalid, match="terms_sha256"):
        verify(sign(lying, KEY), key_set(KEY))


def test_a_key_id_is_stable_for_a_key_and_differs_between_keys() -> None:
    assert key_id(KEY) == key_id(KEY)
    assert key_id(KEY) != key_id(Ed25519PrivateKey.generate())
