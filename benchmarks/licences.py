"""Licence certificates signed and verified per second, and agreement PDFs rendered per second.

Run with `python -m benchmarks.licences` (add `--quick` for fewer repetitions). Pure work on one
core: canonical JSON (RFC 8785) of the terms, SHA-256, Ed25519 signing and checking through joserfc.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import agreement
from contracts.certificate import ISSUER, Certificate, key_set, sign, verify
from contracts.licences import AGREEMENT_FONT
from contracts.model import Deal, DealSource, DealState, LicenceStatus, NamedParty, Payee, TrackIdentity
from contracts.terms_document import canonical_json, licence_terms, sha256_hex
from rights.terms import Media, Money, Usage

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _certificate(payees: int) -> Certificate:
    shares = [10_000 // payees] * payees
    shares[0] += 10_000 - sum(shares)
    deal = Deal(
        id=uuid4(), source=DealSource.QUOTE, source_id=uuid4(), track_id=uuid4(), seller=UUID(int=1),
        buyer=UUID(int=2), price=Money(250_000, "EUR"),
        usage=Usage(media=Media.FILM, territories=("WORLD",), term_months=24, start=date(2027, 1, 1)),
        state=DealState.PAID, created_at=NOW, payment_reference="pi_benchmark",
        payees=tuple(Payee(organisation_id=uuid4(), party_id=uuid4(), party_name=f"Writer {i}", side="publishing",
                           territory="WORLD", share_bps=share) for i, share in enumerate(shares)),
    )  # fmt: skip
    terms = licence_terms(
        deal, licence_id=uuid4(), licensor=NamedParty(organisation_id=deal.seller, name="Northern Lights"),
        licensee=NamedParty(organisation_id=deal.buyer, name="Brightside Agency"),
        track=TrackIdentity(id=deal.track_id, title="Night Drive", artist="Zoë", isrc="GBNLR2600001",
                            iswc="T-000.000.001-0"),
    )  # fmt: skip
    return Certificate(
        issuer=ISSUER, licence_id=terms.licence_id, version=1, issued_at=NOW, terms=terms,
        terms_sha256=sha256_hex(canonical_json(terms)), audio_sha256="ab" * 32, allow_list=(),
    )  # fmt: skip


def _rate(work: Callable[[], object], repetitions: int) -> tuple[float, float]:
    started = time.perf_counter()
    for _ in range(repetitions):
        work()
    seconds = time.perf_counter() - started
    return seconds, repetitions / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    repetitions = 300 if parser.parse_args().quick else 3_000
    key = Ed25519PrivateKey.generate()
    jwks = key_set(key)
    print("| what | payees | repetitions | seconds | per second |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for payees in (2, 20):
        certificate = _certificate(payees)
        token = sign(certificate, key)
        for what, work in (("sign a certificate", partial(sign, certificate, key)),
                           ("verify a certificate", partial(verify, token, jwks))):  # fmt: skip
            seconds, rate = _rate(work, repetitions)
            print(f"| {what} | {payees} | {repetitions:,} | {seconds:.2f} | {rate:,.0f} |")
    if AGREEMENT_FONT.exists():
        certificate = _certificate(20)
        document = agreement.agreement(
            certificate.terms, status=LicenceStatus.VALID, issued_at=NOW, terms_sha256=certificate.terms_sha256,
            verify_url="/licences/x/verify",
        )  # fmt: skip
        count = max(repetitions // 30, 10)
        seconds, rate = _rate(partial(agreement.render_pdf, document, AGREEMENT_FONT), count)
        print(f"| render the agreement PDF | 20 | {count:,} | {seconds:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
